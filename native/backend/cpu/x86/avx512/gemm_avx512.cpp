// AVX-512 small float GEMMs: C = alpha A B + beta C, row-major, sized for the chunked DeltaNet
// (m, n, k <= 128 typically) and attention prefill's P V (64 query rows). An 8 x 32 tile of C
// lives in 16 of the 32 registers while k runs, each step broadcasting 8 values of A and loading
// 32 of B (16 FMAs per 10 loads). Column edges use masked loads and stores instead of narrower
// tiles and scalar loops. A 32-column strip of B (16 KiB for k = 128) stays in L1 across the row
// tiles, so there is no packing. Few rows of A (attention decode, where
// B streams from memory) go to gemm_few_rows_avx512.cpp. Each C element is one FMA chain over k in
// order, as in AVX2's tiles: the same bits, except in the last n % 8 columns, which AVX2 computes in
// a scalar loop. Helpers are static (see kernels.h).
#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip false -W(maybe-)uninitialized warnings (see kernels_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "backend/cpu/x86/avx512/gemm_avx512.h"

#include <immintrin.h>

#include "backend/cpu/x86/avx2/gemm_avx2.h"
#include "backend/cpu/x86/avx512/gemm_few_rows_avx512.h"

namespace petrel::cpu::avx512 {
namespace {

// B is float32, or fp16 converted as it is loaded (vcvtph2ps is exact).
static inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load16(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

static inline void store16(float* c, __mmask16 m, __m512 v, __m512 alpha, float beta) {
  if (beta == 0.0f) {
    _mm512_mask_storeu_ps(c, m, _mm512_mul_ps(alpha, v));
  } else {
    _mm512_mask_storeu_ps(c, m, _mm512_fmadd_ps(alpha, v, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c))));
  }
}

// Rows [0, R) of C, columns [0, 16 W), the last 16 masked by `last`. Inlined so the accumulators
// stay in registers (see the AVX2 tiles).
template <int R, int W, typename TB>
__attribute__((always_inline)) static inline void tile(int64_t k, const float* a, int64_t lda, const TB* b, int64_t ldb,
                                                       float* c, int64_t ldc, __m512 alpha, float beta, __mmask16 last) {
  __m512 acc[R][W];
  for (int r = 0; r < R; ++r) {
    for (int w = 0; w < W; ++w) acc[r][w] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[W];
    for (int w = 0; w < W; ++w) bv[w] = load16(b + p * ldb + 16 * w, w == W - 1 ? last : __mmask16(0xFFFF));
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + p]);
      for (int w = 0; w < W; ++w) acc[r][w] = _mm512_fmadd_ps(av, bv[w], acc[r][w]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int w = 0; w < W; ++w) store16(c + r * ldc + 16 * w, w == W - 1 ? last : __mmask16(0xFFFF), acc[r][w], alpha, beta);
  }
}

template <int W, typename TB>
static void strip(int64_t m, int64_t k, const float* a, int64_t lda, const TB* b, int64_t ldb, float* c, int64_t ldc,
                  __m512 alpha, float beta, __mmask16 last) {
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) tile<8, W, TB>(k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, alpha, beta, last);
  for (; i + 4 <= m; i += 4) tile<4, W, TB>(k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, alpha, beta, last);
  for (; i < m; ++i) tile<1, W, TB>(k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, alpha, beta, last);
}

// Below this many rows of A the few-row kernels run (gemm_few_rows_avx512.cpp: B streams from
// memory in decode, and they fetch it ahead), or AVX2's for the shapes those do not take.
constexpr int64_t kMinRows = 16;

template <typename TB>
static void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t w = n - j < 32 ? n - j : 32;
    if (w > 16) {
      strip<2, TB>(m, k, a, lda, b + j, ldb, c + j, ldc, va, beta, static_cast<__mmask16>((1u << (w - 16)) - 1));
    } else {
      strip<1, TB>(m, k, a, lda, b + j, ldb, c + j, ldc, va, beta, static_cast<__mmask16>((1u << w) - 1));
    }
  }
}

// gemm_nt (attention scores, C = alpha A B^T) with 16+ rows of A: B^T is formed 16 columns (rows
// of B, the keys) at a time in an L1 panel by AVX2's transposer (8 x 8 blocks of 256-bit
// shuffles), then the 8-row tiles above run on it. Fewer rows (decode) go to
// gemm_few_rows_avx512.cpp, the last n % 16 columns to the AVX2 kernel, whose panel path
// computes the same FMA chains.
constexpr int64_t kPanelMinRows = 16;
constexpr int64_t kPanelMaxK = 512;  // a 32 KiB panel on the stack

// True when it handled the product; false leaves it to the AVX2 kernel.
template <typename TB>
static bool gemm_nt_panel(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                          float* c, int64_t ldc) {
  if (m < kPanelMinRows || k > kPanelMaxK || n < 16) return false;
  alignas(64) float panel[kPanelMaxK * 16];
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    avx2::transpose_panel16(b + j * ldb, ldb, k, panel);
    strip<1, float>(m, k, a, lda, panel, 16, c + j, ldc, va, 0.0f, __mmask16(0xFFFF));
  }
  return true;
}

// The AVX-512 products where they apply, another kernel (AVX2's, same signature) where not.
template <typename TB>
using GemmNtFn = void (*)(int64_t, int64_t, int64_t, float, const float*, int64_t, const TB*, int64_t, float*, int64_t);
template <typename TB>
using GemmFn = void (*)(int64_t, int64_t, int64_t, float, const float*, int64_t, const TB*, int64_t, float, float*, int64_t);

template <typename TB>
static void gemm_nt_any(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                        float* c, int64_t ldc, GemmNtFn<TB> fallback) {
  if (!gemm_nt_panel<TB>(m, n, k, alpha, a, lda, b, ldb, c, ldc)) {
    if (!gemm_nt_few_rows(m, n, k, alpha, a, lda, b, ldb, c, ldc)) fallback(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  } else if (n % 16 != 0) {
    const int64_t j = n / 16 * 16;
    fallback(m, n - j, k, alpha, a, lda, b + j * ldb, ldb, c + j, ldc);
  }
}

template <typename TB>
static void gemm_any(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                     float beta, float* c, int64_t ldc, GemmFn<TB> fallback) {
  if (m >= kMinRows) {
    gemm<TB>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else if (!gemm_few_rows(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) {
    fallback(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace

void gemm_nt_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* c, int64_t ldc) {
  gemm_nt_any<float>(m, n, k, alpha, a, lda, b, ldb, c, ldc, avx2::gemm_nt_f32);
}

void gemm_nt_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                     int64_t ldb, float* c, int64_t ldc) {
  gemm_nt_any<uint16_t>(m, n, k, alpha, a, lda, b, ldb, c, ldc, avx2::gemm_nt_f32_f16);
}

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
              float beta, float* c, int64_t ldc) {
  gemm_any<float>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, avx2::gemm_f32);
}

void gemm_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                  int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_any<uint16_t>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, avx2::gemm_f32_f16);
}

}  // namespace petrel::cpu::avx512

#endif  // defined(__x86_64__)
