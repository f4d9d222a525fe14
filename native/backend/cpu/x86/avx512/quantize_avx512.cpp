// AVX-512 Q8_K activation quantizer, bit-identical to quant/ref's (= ggml's quantize_row_q8_K_ref),
// by the same steps as the AVX2 one: the value of largest magnitude (the first one on ties) sets
// iscale = -127 / max; each value is iscale * x rounded to nearest-even, capped at 127; d = 1 / iscale.
// The 16 sums of 16 values come from vpdpbusd against ones and two pack-and-add rounds instead of
// a scalar loop. Helpers are static (see kernels.h).
#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip false -W(maybe-)uninitialized warnings (see kernels_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "backend/cpu/x86/avx512/quantize_avx512.h"

#include <immintrin.h>

namespace petrel::cpu::avx512 {
namespace {

// bsums[g] = sum of qs[16 g .. 16 g + 16) for the 256 quantized values.
static inline void block_sums(const int8_t* qs, int16_t* bsums) {
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i one16 = _mm512_set1_epi16(1);
  __m512i s[4];  // s[v] lane 4h + e: sum of 4 values of group 4v + h (e = which 4)
  for (int v = 0; v < 4; ++v) {
    s[v] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, _mm512_loadu_si512(qs + 64 * v));
  }
  // Each round packs two vectors to int16 (within 128-bit lanes) and adds neighbours: after two
  // rounds 128-bit lane h holds the sums of groups h, 4 + h, 8 + h, 12 + h.
  const __m512i p01 = _mm512_madd_epi16(_mm512_packs_epi32(s[0], s[1]), one16);
  const __m512i p23 = _mm512_madd_epi16(_mm512_packs_epi32(s[2], s[3]), one16);
  const __m512i sums = _mm512_madd_epi16(_mm512_packs_epi32(p01, p23), one16);
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(bsums), _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(order, sums)));
}

}  // namespace

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  const __m512i cap = _mm512_set1_epi32(127);
  for (int64_t ib = 0; ib < nb; ++ib, x += QK_K) {
    __m512 vmax = _mm512_setzero_ps();
    for (int j = 0; j < QK_K; j += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    const float amax = _mm512_reduce_max_ps(vmax);
    BlockQ8_K& out = y[ib];
    if (amax == 0.0f) {
      __builtin_memset(&out, 0, sizeof out);
      continue;
    }
    float max = 0.0f;
    const __m512 vamax = _mm512_set1_ps(amax);
    for (int j = 0; j < QK_K; j += 16) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), vamax, _CMP_EQ_OQ);
      if (hit != 0) {
        max = x[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int j = 0; j < QK_K; j += 16) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + j))), cap);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.qs + j), _mm512_cvtsepi32_epi8(q));
    }
    block_sums(out.qs, out.bsums);
    out.d = 1.0f / iscale;
  }
}

}  // namespace petrel::cpu::avx512

#endif  // defined(__x86_64__)
