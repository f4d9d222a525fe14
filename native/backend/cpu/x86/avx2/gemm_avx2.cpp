// AVX2 + FMA small float GEMMs. gemm_f32: C = alpha A B + beta C, row-major, sized for the chunked
// DeltaNet (m, k <= 128, n <= 128 typically), so there is no packing or cache blocking: a 4 x 16
// tile of C lives in 8 registers while k runs, each step broadcasting 4 values of A and loading
// 16 of B (8 FMAs per 6 loads). Edges use 8-wide and scalar columns, and single rows.
// gemm_nt_f32: C = alpha A B^T, dot products along k in 4 x 2 tiles (8 FMAs per 6 loads).
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/gemm_avx2.h"

#include <immintrin.h>

namespace petrel::cpu::avx2 {
namespace {

// B operands are float32, or fp16 converted as they are loaded (vcvtph2ps is exact).
static inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
static inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
static inline float to_f32(float v) { return v; }
static inline float to_f32(uint16_t v) { return _cvtsh_ss(v); }

static inline void store_tile(float* c, __m256 v, __m256 alpha, float beta) {
  if (beta == 0.0f) {
    _mm256_storeu_ps(c, _mm256_mul_ps(alpha, v));
  } else {
    _mm256_storeu_ps(c, _mm256_fmadd_ps(alpha, v, _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c))));
  }
}

// Rows [i0, i0 + R) of C, columns [j, j + 16).
constexpr int64_t kAheadRows = 64;

template <int R, typename TB>
static void tile16(int64_t k, const float* a, int64_t lda, const TB* b, int64_t ldb, float* c, int64_t ldc,
                   __m256 alpha, float beta) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    _mm_prefetch(reinterpret_cast<const char*>(b + (p + kAheadRows) * ldb), _MM_HINT_T2);
    const __m256 b0 = load8(b + p * ldb);
    const __m256 b1 = load8(b + p * ldb + 8);
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

template <int R, typename TB>
static void tile8(int64_t k, const float* a, int64_t lda, const TB* b, int64_t ldb, float* c, int64_t ldc,
                  __m256 alpha, float beta) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b0 = load8(b + p * ldb);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r * lda + p), b0, acc[r]);
  }
  for (int r = 0; r < R; ++r) store_tile(c + r * ldc, acc[r], alpha, beta);
}

template <int R, typename TB>
static void rows(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) tile16<R, TB>(k, a, lda, b + j, ldb, c + j, ldc, va, beta);
  for (; j + 8 <= n; j += 8) tile8<R, TB>(k, a, lda, b + j, ldb, c + j, ldc, va, beta);
  for (; j < n; ++j) {
    for (int r = 0; r < R; ++r) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p) sum += a[r * lda + p] * to_f32(b[p * ldb + j]);
      float* cij = c + r * ldc + j;
      *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
    }
  }
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane i of the result is the sum of v[i]'s eight lanes (three rounds of pairwise adds).
static inline __m256 hsum8(const __m256 v[8]) {
  const __m256 h01 = _mm256_hadd_ps(v[0], v[1]), h23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 h45 = _mm256_hadd_ps(v[4], v[5]), h67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 g0 = _mm256_hadd_ps(h01, h23), g1 = _mm256_hadd_ps(h45, h67);  // per 128-bit half: sums of v0..v3 / v4..v7
  return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
}

// C[i][j] for R rows of A against C columns (rows of B): R x C dot products of length k, each in
// 8 lanes (k % 8 tail in scalar), every loaded vector used C (or R) times. The accumulators are
// reduced eight at a time (hsum8), not one by one.
template <int R, int C, typename TB>
static void nt_tile(int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb, float* c,
                    int64_t ldc) {
  constexpr int kAcc = (R * C + 7) / 8 * 8;
  // B rows stream from memory in attention decode: fetch the rows kAheadRows on (past n too,
  // which is the next block of the same cache) while these are multiplied.
  for (int q = 0; q < C; ++q) {
    const char* ahead = reinterpret_cast<const char*>(b + (q + kAheadRows) * ldb);
    for (int64_t off = 0; off < k * static_cast<int64_t>(sizeof(TB)); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T2);
  }
  __m256 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 bv[C];
    for (int q = 0; q < C; ++q) bv[q] = load8(b + q * ldb + p);
    for (int r = 0; r < R; ++r) {
      __m256 av = _mm256_loadu_ps(a + r * lda + p);
      if (C > 1) __asm__("" : "+x"(av));  // one load per row: the compiler would fold it into each FMA
      for (int q = 0; q < C; ++q) acc[r * C + q] = _mm256_fmadd_ps(av, bv[q], acc[r * C + q]);
    }
  }
  alignas(32) float sums[kAcc];
  for (int i = 0; i < kAcc; i += 8) _mm256_store_ps(sums + i, hsum8(acc + i));
  for (int r = 0; r < R; ++r) {
    for (int q = 0; q < C; ++q) {
      float sum = sums[r * C + q];
      for (int64_t t = p; t < k; ++t) sum += a[r * lda + t] * to_f32(b[q * ldb + t]);
      c[r * ldc + q] = alpha * sum;
    }
  }
}

template <typename TB>
static void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                    float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) nt_tile<4, 2, TB>(k, alpha, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc);
    for (; j < n; ++j) nt_tile<4, 1, TB>(k, alpha, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc);
  }
  for (; i < m; ++i) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) nt_tile<1, 4, TB>(k, alpha, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc);
    for (; j < n; ++j) nt_tile<1, 1, TB>(k, alpha, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc);
  }
}

template <typename TB>
static void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) rows<4, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  for (; i < m; ++i) rows<1, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
}

}  // namespace

void gemm_nt_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* c, int64_t ldc) {
  gemm_nt<float>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

void gemm_nt_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                     int64_t ldb, float* c, int64_t ldc) {
  gemm_nt<uint16_t>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
              float beta, float* c, int64_t ldc) {
  gemm<float>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                  int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm<uint16_t>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
