// AVX2 + FMA gated multiply (y = silu(gate) * x or sigmoid(gate) * x) and softmax exponentials,
// 8 lanes at a time.
// e^v is the classic range reduction v = k ln2 + r (ln2 split in two parts so r is exact to
// float precision), a degree-6 polynomial for e^r on |r| <= ln2/2 (Cephes' expf coefficients),
// and 2^k put into the exponent bits; arguments are clamped to the finite range, where silu and
// sigmoid are saturated anyway. Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/gate_mul_avx2.h"

#include <cmath>
#include <immintrin.h>

namespace petrel::cpu::avx2 {
namespace {

static inline __m256 exp_ps(__m256 v) {
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), v);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

template <bool kSilu>
static void gate_mul(const float* gate, const float* x, int64_t n, float* y) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(gate + i);
    const __m256 denom = _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), v)));
    __m256 a = _mm256_div_ps(kSilu ? v : one, denom);
    if (x != nullptr) a = _mm256_mul_ps(a, _mm256_loadu_ps(x + i));
    _mm256_storeu_ps(y + i, a);
  }
  for (; i < n; ++i) {
    const float v = gate[i];
    const float a = (kSilu ? v : 1.0f) / (1.0f + std::exp(-v));
    y[i] = x != nullptr ? a * x[i] : a;
  }
}

}  // namespace

void gate_mul_f32(GateActivation act, const float* gate, const float* x, int64_t n, float* y) {
  if (act == GateActivation::silu) {
    gate_mul<true>(gate, x, n, y);
  } else {
    gate_mul<false>(gate, x, n, y);
  }
}

float exp_shift_sum_f32(const float* x, float shift, int64_t n, float* y) {
  const __m256 vs = _mm256_set1_ps(shift);
  const __m256 floor = _mm256_set1_ps(-104.0f);  // e^-104 is 0 in float; keeps -inf out of exp_ps
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vs);
    // exp_ps clamps at -87 (a normal result); below -87 the true value is < 2^-125: use 0.
    const __m256 below = _mm256_cmp_ps(d, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    const __m256 e = _mm256_andnot_ps(below, exp_ps(_mm256_max_ps(d, floor)));
    _mm256_storeu_ps(y + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  float sum = _mm_cvtss_f32(s);
  for (; i < n; ++i) {
    y[i] = std::exp(x[i] - shift);
    sum += y[i];
  }
  return sum;
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
