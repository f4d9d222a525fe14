// AVX2 + FMA small float GEMMs. gemm_f32: C = alpha A B + beta C, row-major, sized for the chunked
// DeltaNet (m, k <= 128, n <= 128 typically), so there is no packing or cache blocking: a 4 x 16
// tile of C lives in 8 registers while k runs, each step broadcasting 4 values of A and loading
// 16 of B (8 FMAs per 6 loads). Edges use 8-wide and scalar columns, and single rows.
// gemm_nt_f32: C = alpha A B^T (attention scores): with 16+ rows of A, B^T is built 16 columns at
// a time in an L1 panel and C uses the 4 x 16 tiles; with fewer (decode), dot products along k in
// 4 x 2 tiles. gemm with 16+ rows of A reads B through a 16-column L1 panel as well. Helpers are
// static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/gemm_avx2.h"

#include <immintrin.h>

#include <algorithm>

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

// How far ahead nt_tile prefetches B rows, into L1, when they stream from memory (attention
// decode's keys): 16 rows (8 KiB of an F16 cache); 64 rows into L2 was slower
// (docs/PERFORMANCE.md#single-kernels). gemm's decode rows stream through rows_streamed, which
// prefetches its next pass itself.
constexpr int64_t kAheadRows = 16;

// Rows [i0, i0 + R) of C, columns [j, j + 16).
// Inlined: as a separate (constant-propagated) function GCC kept the accumulators in memory,
// a store per FMA.
template <int R, typename TB>
__attribute__((always_inline)) static inline void tile16(int64_t k, const float* a, int64_t lda, const TB* b,
                                                         int64_t ldb, float* c, int64_t ldc, __m256 alpha, float beta) {
  __m256 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
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
__attribute__((always_inline)) static inline void tile8(int64_t k, const float* a, int64_t lda, const TB* b, int64_t ldb,
                                                        float* c, int64_t ldc, __m256 alpha, float beta) {
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
    for (int64_t off = 0; off < k * static_cast<int64_t>(sizeof(TB)); off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
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

// Columns t of the 8 x 8 block r[0..7] (rows) -> out[t] (8 unpack, 8 shuffle, 8 lane permutes).
static inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// panel[p][q] = B[q][p] as float for 16 rows q of B and all k columns p.
template <typename TB>
static void transpose_panel16(const TB* b, int64_t ldb, int64_t k, float* panel) {
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    for (int half = 0; half < 2; ++half) {
      __m256 r[8];
      for (int q = 0; q < 8; ++q) r[q] = load8(b + (8 * half + q) * ldb + p);
      transpose8(r);
      for (int t = 0; t < 8; ++t) _mm256_store_ps(panel + (p + t) * 16 + 8 * half, r[t]);
    }
  }
  for (; p < k; ++p) {
    for (int q = 0; q < 16; ++q) panel[p * 16 + q] = to_f32(b[q * ldb + p]);
  }
}

// Dot-product tiles (nt_tile) over C columns [0, n).
template <typename TB>
static void gemm_nt_dots(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b,
                         int64_t ldb, float* c, int64_t ldc) {
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

// With many rows of A (attention prefill: 64 query rows per key block), B^T is formed 16 columns
// at a time in an L1 panel (each B value converted once, transposed with shuffles) and C uses
// gemm's broadcast tiles: no horizontal sums, and the 4 x 16 tile does 8 FMAs per 6 loads where
// nt_tile needs 6 loads and a reduction per 8. Few rows (decode) keep the dot tiles: the
// transposition would not pay off.
constexpr int64_t kPanelMinRows = 16;
constexpr int64_t kPanelMaxK = 512;  // a 32 KiB panel on the stack
constexpr int64_t kStreamMaxN = 512;  // rows_streamed's partial sums on the stack

template <typename TB>
static void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                    float* c, int64_t ldc) {
  if (m < kPanelMinRows || k > kPanelMaxK) {
    gemm_nt_dots<TB>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  alignas(32) float panel[kPanelMaxK * 16];
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    transpose_panel16<TB>(b + j * ldb, ldb, k, panel);
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) tile16<4, float>(k, a + i * lda, lda, panel, 16, c + i * ldc + j, ldc, va, 0.0f);
    for (; i < m; ++i) tile16<1, float>(k, a + i * lda, lda, panel, 16, c + i * ldc + j, ldc, va, 0.0f);
  }
  if (j < n) gemm_nt_dots<TB>(m, n - j, k, alpha, a, lda, b + j * ldb, ldb, c + j, ldc);
}

// Few rows of A (attention decode: P V with the 4 query heads of one KV head, V streaming from
// memory): B is read 8 rows at a time across all n columns (8 rows of an F16 V are 4 KiB in a
// row), the 16-column tiles' partial sums kept in `part` between row groups. Tile by tile over
// all k rows, each tile read a 32-byte piece of every row, 512 bytes apart. The FMAs per element
// are the same, in the same order, as tile16's: the same bits.
template <int R, typename TB>
static void rows_streamed(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                          float beta, float* c, int64_t ldc) {
  constexpr int64_t kRowsPerPass = 8;
  alignas(32) float part[R][kStreamMaxN];
  for (int r = 0; r < R; ++r) std::fill(part[r], part[r] + n, 0.0f);
  for (int64_t p0 = 0; p0 < k; p0 += kRowsPerPass) {
    const int64_t p1 = std::min(k, p0 + kRowsPerPass);
    for (int64_t j = 0; j < n; j += 16) {
      // the next pass's rows, the 64-byte lines of this tile's columns: all of them by the end of this pass
      if ((j * static_cast<int64_t>(sizeof(TB))) % 64 == 0) {
        for (int64_t p = p1; p < std::min(k, p1 + kRowsPerPass); ++p) _mm_prefetch(reinterpret_cast<const char*>(b + p * ldb + j), _MM_HINT_T0);
      }
      __m256 acc[R][2];
      for (int r = 0; r < R; ++r) {
        acc[r][0] = _mm256_load_ps(part[r] + j);
        acc[r][1] = _mm256_load_ps(part[r] + j + 8);
      }
      for (int64_t p = p0; p < p1; ++p) {
        const __m256 b0 = load8(b + p * ldb + j);
        const __m256 b1 = load8(b + p * ldb + j + 8);
        for (int r = 0; r < R; ++r) {
          const __m256 av = _mm256_broadcast_ss(a + r * lda + p);
          acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
      }
      for (int r = 0; r < R; ++r) {
        _mm256_store_ps(part[r] + j, acc[r][0]);
        _mm256_store_ps(part[r] + j + 8, acc[r][1]);
      }
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int r = 0; r < R; ++r) {
    for (int64_t j = 0; j < n; j += 8) store_tile(c + r * ldc + j, _mm256_load_ps(part[r] + j), va, beta);
  }
}

// panel[p][q] = B[p][q] as float for 16 columns q of B and all k rows p.
template <typename TB>
static void copy_panel16(const TB* b, int64_t ldb, int64_t k, float* panel) {
  for (int64_t p = 0; p < k; ++p) {
    _mm256_store_ps(panel + p * 16, load8(b + p * ldb));
    _mm256_store_ps(panel + p * 16 + 8, load8(b + p * ldb + 8));
  }
}

// With many rows of A (attention prefill: P V with 64 query rows, an F16 V), each 16-column strip
// of B is converted once into an L1 panel that every row tile then reads: row by row, the strip
// was re-read from L2 (and re-converted) for every 4 rows. Same FMAs in the same order: the same
// bits as the row tiles.
template <typename TB>
static void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const TB* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  if (m < kPanelMinRows && n % 16 == 0 && n <= kStreamMaxN) {
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) rows_streamed<4, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
    for (; i < m; ++i) rows_streamed<1, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
    return;
  }
  if (m >= kPanelMinRows && k <= kPanelMaxK && n >= 16) {
    alignas(32) float panel[kPanelMaxK * 16];
    const __m256 va = _mm256_set1_ps(alpha);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
      copy_panel16<TB>(b + j, ldb, k, panel);
      int64_t i = 0;
      for (; i + 4 <= m; i += 4) tile16<4, float>(k, a + i * lda, lda, panel, 16, c + i * ldc + j, ldc, va, beta);
      for (; i < m; ++i) tile16<1, float>(k, a + i * lda, lda, panel, 16, c + i * ldc + j, ldc, va, beta);
    }
    if (j < n) gemm<TB>(m, n - j, k, alpha, a, lda, b + j, ldb, beta, c + j, ldc);  // fewer than 16 columns left
    return;
  }
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) rows<4, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
  for (; i < m; ++i) rows<1, TB>(n, k, alpha, a + i * lda, lda, b, ldb, beta, c + i * ldc, ldc);
}

}  // namespace

void transpose_panel16(const float* b, int64_t ldb, int64_t k, float* panel) { transpose_panel16<float>(b, ldb, k, panel); }
void transpose_panel16(const uint16_t* b, int64_t ldb, int64_t k, float* panel) { transpose_panel16<uint16_t>(b, ldb, k, panel); }

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
