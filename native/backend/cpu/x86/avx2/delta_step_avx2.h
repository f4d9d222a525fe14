// AVX2 fused single-token DeltaNet step (kernels.h, CpuKernels::delta_step_f32).
#pragma once

#include <cstdint>

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void delta_step_f32(float* s, int64_t dk, int64_t dv, const float* q, const float* k, const float* v, float alpha,
                    float beta, float* out);

}  // namespace petrel::cpu::avx2
#endif
