// The fused single-token DeltaNet step, portable version (see CpuKernels::delta_step_f32).
#include "backend/cpu/generic/delta_step_generic.h"

#include <algorithm>

namespace petrel::cpu::generic {

void delta_step_f32(float* s, int64_t dk, int64_t dv, const float* q, const float* k, const float* v, float alpha,
                    float beta, float* out) {
  constexpr int64_t W = 32;
  float kq = 0.0f;
  for (int64_t i = 0; i < dk; ++i) kq += k[i] * q[i];
  for (int64_t j0 = 0; j0 < dv; j0 += W) {
    const int64_t w = std::min(W, dv - j0);
    float sk[W] = {}, sq[W] = {}, delta[W];
    for (int64_t i = 0; i < dk; ++i) {
      const float* row = s + i * dv + j0;
      for (int64_t j = 0; j < w; ++j) {
        sk[j] += row[j] * k[i];
        sq[j] += row[j] * q[i];
      }
    }
    for (int64_t j = 0; j < w; ++j) {
      delta[j] = beta * (v[j0 + j] - alpha * sk[j]);
      out[j0 + j] = alpha * sq[j] + delta[j] * kq;
    }
    for (int64_t i = 0; i < dk; ++i) {
      float* row = s + i * dv + j0;
      for (int64_t j = 0; j < w; ++j) row[j] = alpha * row[j] + k[i] * delta[j];
    }
  }
}

}  // namespace petrel::cpu::generic
