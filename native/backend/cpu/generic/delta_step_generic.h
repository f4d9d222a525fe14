// The portable fused single-token DeltaNet step (kernels.h, CpuKernels::delta_step_f32).
#pragma once

#include <cstdint>

namespace petrel::cpu::generic {

void delta_step_f32(float* s, int64_t dk, int64_t dv, const float* q, const float* k, const float* v, float alpha,
                    float beta, float* out);

}  // namespace petrel::cpu::generic
