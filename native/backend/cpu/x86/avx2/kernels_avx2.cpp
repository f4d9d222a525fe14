// AVX2 + FMA + F16C kernel table (Haswell / Zen and later). Built with -mavx2 -mfma -mf16c -mbmi2;
// only called after dispatch.cpp has seen those features. Every helper is static (see kernels.h).
// native/CMakeLists.txt compiles this folder (globbed on its own, not recursively), with these
// flags, for x86-64 targets only; the #if keeps the file empty should it be built for another.
#if defined(__x86_64__)

#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/x86/avx2/delta_step_avx2.h"
#include "backend/cpu/x86/avx2/quantize_avx2.h"
#include "backend/cpu/x86/avx2/repacked_dot_avx2.h"
#include "backend/cpu/x86/avx2/gate_mul_avx2.h"
#include "backend/cpu/x86/avx2/gemm_avx2.h"
#include "backend/cpu/x86/avx2/quant_dot_avx2.h"
#include "quant/ref/ref.h"

namespace petrel::cpu {
namespace {

// Horizontal sum of 8 floats.
static inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// vcvtph2ps is exact and quiets NaNs like the reference, so results are bit-identical.
static void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
}

static void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    y[i] = f;
  }
}

// int8 -> float is exact and q * d is one rounding, as in the reference.
static void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = n / QK8_0;
  for (int64_t ib = 0; ib < nb; ++ib) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[ib].d));
    for (int k = 0; k < QK8_0; k += 8) {
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[ib].qs + k));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
      _mm256_storeu_ps(y + ib * QK8_0 + k, _mm256_mul_ps(q, d));
    }
  }
}

static float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

const CpuKernels kAvx2 = {
    "avx2",
    dequantize_row_f16,
    dequantize_row_bf16,
    dequantize_row_q8_0,
    dot_f32,
    avx2::gemm_nt_f32,
    avx2::gemm_nt_f32_f16,
    avx2::gemm_f32_f16,
    avx2::exp_shift_sum_f32,
    avx2::gate_mul_f32,
    avx2::gemm_f32,
    avx2::delta_step_f32,
    ref::quantize_row_q8_0,
    avx2::quantize_row_q8_K,
    avx2::dot_q4_0,
    avx2::dot_q8_0,
    avx2::dot_q4_K,
    avx2::dot_q5_K,
    avx2::dot_q6_K,
    avx2::dot_q4_K_x8,
    avx2::repack_q4_K_x8,
    avx2::dot_q6_K_x8,
};

}  // namespace

const CpuKernels& cpu_kernels_avx2() { return kAvx2; }

}  // namespace petrel::cpu

#endif  // defined(__x86_64__)
