// AVX2 + FMA small float GEMM: C = alpha A B + beta C, row-major, sized for the chunked
// DeltaNet (m, k <= 128, n <= 128 typically), so there is no packing or cache blocking: a 4 x 16
// tile of C lives in 8 registers while k runs, each step broadcasting 4 values of A and loading
// 16 of B (8 FMAs per 6 loads). Edges use 8-wide and scalar columns, and single rows.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/gemm_avx2.h"

#include <immintrin.h>

namespace petrel::cpu::avx2 {
namespace {

static inline void store_tile(float* c, __m256 v, __m256 alpha, float beta) {
  if (beta == 0.0f) {
    _mm256_storeu_ps(c, _mm256_mul_ps(alpha, v));
  } else {
    _mm256_storeu_ps(c, _mm256_fmadd_ps(alpha, v, _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c))));
  }
}

// Rows [i0, i0 + R) of C, columns [j, j + 16).
template <int R>
static void tile16(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                   __m256 alpha, float beta) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * ldb);
    const __m256 b1 = _mm256_loadu_ps(b + p * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + p);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < R; ++r) {
    store_tile(c + r * ldc, acc[r][0], alpha, beta);
    store_tile(c + r * ldc + 8, acc[r][1], alpha, beta);
  }
}

template <int R>
static void tile8(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                  __m256 alpha, float beta) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * ldb);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * lda + p), b0, acc[r]);
  }
  for (int r = 0; r < R; ++r) store_tile(c + r * ldc, acc[r], alpha, beta);
}

template <int R>
static void rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) tile16<R>(k, a, lda, b + j, ldb, c + j, ldc, va, beta);
  for (; j + 8 <= n; j += 8) tile8<R>(k, a, lda, b + j, ldb, c + j, ldc, va, beta);
  for (; j < n; ++j) {
    for (int r = 0; r < R; ++r) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p) sum += a[r * lda + p] * b[p * ldb + j];
      float* cij = c + r * ldc + j;
      *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
    }
  }
}

}  // namespace

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
              float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) rows<4>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  for (; i < m; ++i) rows<1>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
