// The portable gated multiply and softmax exponentials (kernels.h, CpuKernels::gate_mul_f32,
// exp_shift_sum_f32).
#pragma once

#include <cstdint>

#include "backend/cpu/kernels.h"

namespace petrel::cpu::generic {

void gate_mul_f32(GateActivation act, const float* gate, const float* x, int64_t n, float* y);

float exp_shift_sum_f32(const float* x, float shift, int64_t n, float* y);

}  // namespace petrel::cpu::generic
