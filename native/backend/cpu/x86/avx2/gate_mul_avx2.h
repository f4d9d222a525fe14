// AVX2 gated multiply (kernels.h, CpuKernels::gate_mul_f32); the AVX-512 table reuses it.
#pragma once

#include <cstdint>

#include "backend/cpu/kernels.h"

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void gate_mul_f32(GateActivation act, const float* gate, const float* x, int64_t n, float* y);

float exp_shift_sum_f32(const float* x, float shift, int64_t n, float* y);

}  // namespace petrel::cpu::avx2
#endif
