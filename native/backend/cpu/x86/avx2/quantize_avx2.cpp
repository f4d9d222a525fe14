// AVX2 Q8_K activation quantizer, bit-identical to quant/ref's (= ggml's quantize_row_q8_K_ref):
// the value of largest magnitude (the first one on ties) sets iscale = -127 / max; each value is
// iscale * x rounded to nearest-even (vcvtps2dq in the default rounding mode is exactly ggml's
// 1.5 * 2^23 trick for these magnitudes), capped at 127; d = 1 / iscale. Helpers are static.
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/quantize_avx2.h"

#include <immintrin.h>

#include <cmath>

namespace petrel::cpu::avx2 {

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t ib = 0; ib < nb; ++ib, x += QK_K) {
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < QK_K; j += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    BlockQ8_K& out = y[ib];
    if (amax == 0.0f) {
      __builtin_memset(&out, 0, sizeof out);
      continue;
    }
    float max = 0.0f;
    for (int j = 0; j < QK_K; ++j) {
      if (std::fabs(x[j]) == amax) {
        max = x[j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
    for (int j = 0; j < QK_K; j += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k))), cap);
      }
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs + j), _mm256_permutevar8x32_epi32(p, order));
    }
    for (int g = 0; g < QK_K / 16; ++g) {
      int sum = 0;
      for (int k = 0; k < 16; ++k) sum += out.qs[16 * g + k];
      out.bsums[g] = static_cast<int16_t>(sum);
    }
    out.d = 1.0f / iscale;
  }
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
