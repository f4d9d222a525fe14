// AVX2 fused single-token DeltaNet step: 32 state columns at a time (8 accumulators, enough to
// hide the FMA latency), both passes over a 32-column strip of the state while it is in L1.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/delta_step_avx2.h"

#include <immintrin.h>

#include "backend/cpu/generic/delta_step_generic.h"

namespace petrel::cpu::avx2 {

void delta_step_f32(float* s, int64_t dk, int64_t dv, const float* q, const float* k, const float* v, float alpha,
                    float beta, float* out) {
  constexpr int64_t W = 32;
  if (dv % W != 0) return generic::delta_step_f32(s, dk, dv, q, k, v, alpha, beta, out);
  float kq = 0.0f;  // the same order as the generic version: the scalar sum is the cheap part
  for (int64_t i = 0; i < dk; ++i) kq += k[i] * q[i];
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta), vkq = _mm256_set1_ps(kq);
  for (int64_t j0 = 0; j0 < dv; j0 += W) {
    __m256 sk[4], sq[4];
    for (int c = 0; c < 4; ++c) sk[c] = sq[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < dk; ++i) {
      const float* row = s + i * dv + j0;
      const __m256 ki = _mm256_set1_ps(k[i]), qi = _mm256_set1_ps(q[i]);
      for (int c = 0; c < 4; ++c) {
        const __m256 x = _mm256_loadu_ps(row + 8 * c);
        sk[c] = _mm256_fmadd_ps(x, ki, sk[c]);
        sq[c] = _mm256_fmadd_ps(x, qi, sq[c]);
      }
    }
    __m256 delta[4];
    for (int c = 0; c < 4; ++c) {
      delta[c] = _mm256_mul_ps(vb, _mm256_sub_ps(_mm256_loadu_ps(v + j0 + 8 * c), _mm256_mul_ps(va, sk[c])));
      _mm256_storeu_ps(out + j0 + 8 * c, _mm256_fmadd_ps(delta[c], vkq, _mm256_mul_ps(va, sq[c])));
    }
    for (int64_t i = 0; i < dk; ++i) {
      float* row = s + i * dv + j0;
      const __m256 ki = _mm256_set1_ps(k[i]);
      for (int c = 0; c < 4; ++c) {
        _mm256_storeu_ps(row + 8 * c, _mm256_fmadd_ps(ki, delta[c], _mm256_mul_ps(va, _mm256_loadu_ps(row + 8 * c))));
      }
    }
  }
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
