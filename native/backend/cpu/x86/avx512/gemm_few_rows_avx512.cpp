// AVX-512 products with few rows of A: attention decode, where the 4 or 8 query heads that share
// a KV head meet a block of keys (S = Q K^T) and then of values (P V), both read from memory once.
// - Scores: a 4 x 2 tile (4 query rows, 2 keys) of 16-lane dot products along the head dimension,
//   the 8 accumulators reduced together (rounds of shuffles and adds; one by one costs about twice
//   as many), key rows fetched 16 ahead into L1. Tails of k are masked loads.
// - P V: B is read 8 rows at a time across all n columns, 32 columns per step, the partial sums of
//   C kept in a stack buffer between row groups, and the next group's rows fetched meanwhile. Each
//   C element is one FMA chain over k in order, like the other AVX-512 and AVX2 gemm tiles.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip false -W(maybe-)uninitialized warnings (see kernels_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "backend/cpu/x86/avx512/gemm_few_rows_avx512.h"

#include <immintrin.h>

namespace petrel::cpu::avx512 {
namespace {

static inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load16(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

// The sums of v[0..7]'s 16 lanes each: v[i]'s in lane i for i < 4, in lane 4 + i for i >= 4.
// Taken by value: with the accumulator array's address passed, GCC kept the array in memory and
// stored every accumulator on every step of the loop that fills it.
__attribute__((always_inline)) static inline __m512 hsum8(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4, __m512 v5,
                                                          __m512 v6, __m512 v7) {
  const __m512 v[8] = {v0, v1, v2, v3, v4, v5, v6, v7};
  __m512 x[4], y[2];
  for (int i = 0; i < 4; ++i) {  // per 128-bit lane: (a0 + a2, b0 + b2, a1 + a3, b1 + b3)
    x[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 2; ++i) {  // per 128-bit lane: the lane's sums of v[4i .. 4i + 3]
    y[i] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * i], x[2 * i + 1], 0x44), _mm512_shuffle_ps(x[2 * i], x[2 * i + 1], 0xEE));
  }
  // 128-bit lanes (y0 L0 + L2, y0 L1 + L3, y1 L0 + L2, y1 L1 + L3), then each pair of lanes added
  const __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], 0x44), _mm512_shuffle_f32x4(y[0], y[1], 0xEE));
  return _mm512_add_ps(w, _mm512_shuffle_f32x4(w, w, 0xB1));
}

// How far ahead the score tiles fetch key rows into L1 (as the AVX2 kernel: keys stream from memory).
constexpr int64_t kAheadRows = 16;

// C[r][q] = alpha * (row r of A) . (row q of B) for R rows and C keys.
template <int R, int C, typename TB>
static void nt_tile(int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb, float* c, int64_t ldc) {
  for (int q = 0; q < C; ++q) {
    const char* ahead = reinterpret_cast<const char*>(b + (q + kAheadRows) * ldb);
    for (int64_t off = 0; off < k * static_cast<int64_t>(sizeof(TB)); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
  }
  __m512 acc[R * C];
#pragma GCC unroll 8
  for (int i = 0; i < R * C; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p += 16) {
    const __mmask16 m = k - p >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (k - p)) - 1);
    __m512 bv[C];
#pragma GCC unroll 4
    for (int q = 0; q < C; ++q) bv[q] = load16(b + q * ldb + p, m);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_maskz_loadu_ps(m, a + r * lda + p);
#pragma GCC unroll 4
      for (int q = 0; q < C; ++q) acc[r * C + q] = _mm512_fmadd_ps(av, bv[q], acc[r * C + q]);
    }
  }
  if constexpr (R * C == 8) {
    alignas(64) float sums[16];
    _mm512_store_ps(sums, _mm512_mul_ps(_mm512_set1_ps(alpha), hsum8(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7])));
    for (int i = 0; i < 8; ++i) c[(i / C) * ldc + i % C] = sums[i < 4 ? i : 4 + i];
  } else {
    for (int r = 0; r < R; ++r) {
      for (int q = 0; q < C; ++q) c[r * ldc + q] = alpha * _mm512_reduce_add_ps(acc[r * C + q]);
    }
  }
}

template <typename TB>
static void nt_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
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

constexpr int64_t kMaxRows = 16;     // above this the many-row kernels pay off
constexpr int64_t kStreamMaxN = 512;  // the partial sums of C on the stack

template <int R, typename TB>
static void rows_streamed(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                          float beta, float* c, int64_t ldc) {
  constexpr int64_t kRowsPerPass = 8;
  alignas(64) float part[R][kStreamMaxN];
  for (int r = 0; r < R; ++r) {
    for (int64_t j = 0; j < n; j += 16) _mm512_store_ps(part[r] + j, _mm512_setzero_ps());
  }
  for (int64_t p0 = 0; p0 < k; p0 += kRowsPerPass) {
    const int64_t p1 = p0 + kRowsPerPass < k ? p0 + kRowsPerPass : k;
    const int64_t p2 = p1 + kRowsPerPass < k ? p1 + kRowsPerPass : k;
    for (int64_t j = 0; j < n; j += 32) {
      // the next pass's rows, the 64-byte lines of these 32 columns: all of them by the end of this pass
      for (int64_t off = 0; off < 32 * static_cast<int64_t>(sizeof(TB)); off += 64) {
        for (int64_t p = p1; p < p2; ++p) _mm_prefetch(reinterpret_cast<const char*>(b + p * ldb + j) + off, _MM_HINT_T0);
      }
      __m512 acc[R][2];
      for (int r = 0; r < R; ++r) {
        acc[r][0] = _mm512_load_ps(part[r] + j);
        acc[r][1] = _mm512_load_ps(part[r] + j + 16);
      }
      for (int64_t p = p0; p < p1; ++p) {
        const __m512 b0 = load16(b + p * ldb + j, 0xFFFF);
        const __m512 b1 = load16(b + p * ldb + j + 16, 0xFFFF);
        for (int r = 0; r < R; ++r) {
          const __m512 av = _mm512_set1_ps(a[r * lda + p]);
          acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
          acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < R; ++r) {
        _mm512_store_ps(part[r] + j, acc[r][0]);
        _mm512_store_ps(part[r] + j + 16, acc[r][1]);
      }
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  for (int r = 0; r < R; ++r) {
    for (int64_t j = 0; j < n; j += 16) {
      const __m512 v = _mm512_load_ps(part[r] + j);
      float* cj = c + r * ldc + j;
      if (beta == 0.0f) {
        _mm512_storeu_ps(cj, _mm512_mul_ps(va, v));
      } else {
        _mm512_storeu_ps(cj, _mm512_fmadd_ps(va, v, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(cj))));
      }
    }
  }
}

template <typename TB>
static bool gemm_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                      float beta, float* c, int64_t ldc) {
  if (m > kMaxRows || n % 32 != 0 || n > kStreamMaxN) return false;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) rows_streamed<4, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  for (; i < m; ++i) rows_streamed<1, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  return true;
}

}  // namespace

bool gemm_nt_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc) {
  if (m > kMaxRows) return false;
  nt_rows<float>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  return true;
}

bool gemm_nt_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                      int64_t ldb, float* c, int64_t ldc) {
  if (m > kMaxRows) return false;
  nt_rows<uint16_t>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  return true;
}

bool gemm_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                   float beta, float* c, int64_t ldc) {
  return gemm_rows<float>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool gemm_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
  return gemm_rows<uint16_t>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace petrel::cpu::avx512

#endif  // defined(__x86_64__)
