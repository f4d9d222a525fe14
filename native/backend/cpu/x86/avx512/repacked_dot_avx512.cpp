// AVX-512 VNNI dot products of one or two 8-row groups of repacked rows (BlockQ4_Kx8, BlockQ6_Kx8)
// with up to 4 Q8_K activation rows.
//
// vpdpbusd multiplies 4 unsigned weight bytes by 4 signed activation bytes and adds the four
// products into an int32 lane: with the rows interleaved four bytes at a time, lane r of the
// accumulator is row r's running sum. That replaces AVX2's vpmaddubsw + int16 add + vpmaddwd by
// one instruction, and the int32 lanes never saturate, so a whole sub-block sums before its
// scale is applied (one vpmulld per sub-block and row set).
// Two groups (prefill) run on 512-bit registers: the low half holds group 0's 8 rows, the high
// half group 1's, so one broadcast activation word feeds 16 rows. One group (decode, and the
// last group of a matrix whose row count is not a multiple of 16) runs the same steps on 256-bit
// registers. The float epilogue is the AVX2 one lane for lane, so results are bit-identical to
// the AVX2 kernels (the integer sums are exact both ways) and between one and two groups.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip false -W(maybe-)uninitialized warnings (see kernels_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "backend/cpu/x86/avx512/repacked_dot_avx512.h"

#include <immintrin.h>

namespace petrel::cpu::avx512 {
namespace {

static inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
static inline __m128i load64(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }

// 32 bytes of group 0 in the low half, the same 32 bytes of group 1 in the high half.
static inline __m512i load_pair(const void* p0, const void* p1) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(load256(p0)), load256(p1), 1);
}

static inline int32_t word(const void* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// Decode streams the repacked weights once: fetch the block two ahead into L1, a quarter per
// quarter of the current block (as the AVX2 kernels do, see there).
template <typename Block>
static inline void prefetch_quarter(const Block* next, int quarter) {
  constexpr int kBytes = (sizeof(Block) + 3) / 4;
  const char* p = reinterpret_cast<const char*>(next) + quarter * kBytes;
  for (int off = 0; off < kBytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}
constexpr int64_t kPrefetchBlocks = 2;

// Independent accumulators per sum: with one or two activation rows the chain of vpdpbusd into one
// register (several cycles each) bounds the loop, so alternate words go into separate sums.
template <int N>
constexpr int kChains = N <= 2 ? 2 : 1;
// Q6_K has four vpdpbusd per sum and sub-block (two words, two registers each): with one row,
// each gets a sum of its own; with two, one per register.
template <int N>
constexpr int kQ6Chains = N == 1 ? 4 : N == 2 ? 2 : 1;

// ---- Q4_K ----

// Activation sub-block sums of a Q8_K block as 4 words: word i = (S_2i, S_2i+1) in int16, S_k the
// sum over the 32 values of sub-block k (the min terms pair two sub-blocks per vpmaddwd).
static inline __m128i subblock_sum_pairs(const BlockQ8_K& yb) {
  const __m256i bs = load256(yb.bsums);
  return _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
}

// acc += activation scale * (d * sumi - dmin * (mins . sub-block sums)): AVX2's finish_block.
static inline __m256 finish_q4_8(const BlockQ4_Kx8& b, const BlockQ8_K& yb, __m256i sumi, __m256 acc) {
  const __m128i s = subblock_sum_pairs(yb);
  __m256i msum = _mm256_setzero_si256();
  msum = _mm256_dpwssd_epi32(msum, load256(b.mins[0]), _mm256_set1_epi32(_mm_extract_epi32(s, 0)));
  msum = _mm256_dpwssd_epi32(msum, load256(b.mins[1]), _mm256_set1_epi32(_mm_extract_epi32(s, 1)));
  msum = _mm256_dpwssd_epi32(msum, load256(b.mins[2]), _mm256_set1_epi32(_mm_extract_epi32(s, 2)));
  msum = _mm256_dpwssd_epi32(msum, load256(b.mins[3]), _mm256_set1_epi32(_mm_extract_epi32(s, 3)));
  const __m256 d = _mm256_loadu_ps(b.d);
  const __m256 dmin = _mm256_loadu_ps(b.dmin);
  const __m256 v = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(msum), _mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi)));
  return _mm256_fmadd_ps(_mm256_set1_ps(yb.d), v, acc);
}

static inline __m512 finish_q4_16(const BlockQ4_Kx8& b0, const BlockQ4_Kx8& b1, const BlockQ8_K& yb, __m512i sumi, __m512 acc) {
  const __m128i s = subblock_sum_pairs(yb);
  __m512i msum = _mm512_setzero_si512();
  msum = _mm512_dpwssd_epi32(msum, load_pair(b0.mins[0], b1.mins[0]), _mm512_set1_epi32(_mm_extract_epi32(s, 0)));
  msum = _mm512_dpwssd_epi32(msum, load_pair(b0.mins[1], b1.mins[1]), _mm512_set1_epi32(_mm_extract_epi32(s, 1)));
  msum = _mm512_dpwssd_epi32(msum, load_pair(b0.mins[2], b1.mins[2]), _mm512_set1_epi32(_mm_extract_epi32(s, 2)));
  msum = _mm512_dpwssd_epi32(msum, load_pair(b0.mins[3], b1.mins[3]), _mm512_set1_epi32(_mm_extract_epi32(s, 3)));
  const __m512 d = _mm512_castsi512_ps(load_pair(b0.d, b1.d));
  const __m512 dmin = _mm512_castsi512_ps(load_pair(b0.dmin, b1.dmin));
  const __m512 v = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(msum), _mm512_mul_ps(d, _mm512_cvtepi32_ps(sumi)));
  return _mm512_fmadd_ps(_mm512_set1_ps(yb.d), v, acc);
}

// One group: both nibbles of a loaded register at once, a sub-block sum per nibble and row.
template <int N>
static void q4_x8_n(const BlockQ4_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ4_Kx8& b = w[ib];
    __m256i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      if (N == 1) prefetch_quarter(&w[ib + kPrefetchBlocks], c);
      __m256i lo[kChains<N>][N], hi[kChains<N>][N];
      for (int k = 0; k < kChains<N>; ++k) {
        for (int j = 0; j < N; ++j) lo[k][j] = hi[k][j] = _mm256_setzero_si256();
      }
      for (int g = 0; g < 8; ++g) {
        const __m256i packed = load256(b.qs[c][g]);
        const __m256i ql = _mm256_and_si256(packed, m4);
        const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(packed, 4), m4);
        const int k = g % kChains<N>;
        for (int j = 0; j < N; ++j) {
          const int8_t* a = y[j * nb + ib].qs + 64 * c + 4 * g;
          lo[k][j] = _mm256_dpbusd_epi32(lo[k][j], ql, _mm256_set1_epi32(word(a)));
          hi[k][j] = _mm256_dpbusd_epi32(hi[k][j], qh, _mm256_set1_epi32(word(a + 32)));
        }
      }
      for (int k = 1; k < kChains<N>; ++k) {
        for (int j = 0; j < N; ++j) {
          lo[0][j] = _mm256_add_epi32(lo[0][j], lo[k][j]);
          hi[0][j] = _mm256_add_epi32(hi[0][j], hi[k][j]);
        }
      }
      const __m256i sc_lo = _mm256_cvtepu8_epi32(load64(b.scales[2 * c]));
      const __m256i sc_hi = _mm256_cvtepu8_epi32(load64(b.scales[2 * c + 1]));
      for (int j = 0; j < N; ++j) {
        sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(_mm256_mullo_epi32(lo[0][j], sc_lo), _mm256_mullo_epi32(hi[0][j], sc_hi)));
      }
    }
    for (int j = 0; j < N; ++j) acc[j] = finish_q4_8(b, y[j * nb + ib], sumi[j], acc[j]);
  }
  for (int j = 0; j < N; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

// Two groups on 512-bit registers: lanes 0-7 rows of group 0, lanes 8-15 rows of group 1, so the
// results land as out[(j * 2 + gi) * 8 + r] with one store per activation row.
template <int N>
static void q4_x16_n(const BlockQ4_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ4_Kx8& b0 = w[ib];
    const BlockQ4_Kx8& b1 = w[nb + ib];
    __m512i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      if (N == 1) {
        prefetch_quarter(&w[ib + kPrefetchBlocks], c);
        prefetch_quarter(&w[nb + ib + kPrefetchBlocks], c);
      }
      __m512i lo[kChains<N>][N], hi[kChains<N>][N];
      for (int k = 0; k < kChains<N>; ++k) {
        for (int j = 0; j < N; ++j) lo[k][j] = hi[k][j] = _mm512_setzero_si512();
      }
      for (int g = 0; g < 8; ++g) {
        const __m512i packed = load_pair(b0.qs[c][g], b1.qs[c][g]);
        const __m512i ql = _mm512_and_si512(packed, m4);
        const __m512i qh = _mm512_and_si512(_mm512_srli_epi16(packed, 4), m4);
        const int k = g % kChains<N>;
        for (int j = 0; j < N; ++j) {
          const int8_t* a = y[j * nb + ib].qs + 64 * c + 4 * g;
          lo[k][j] = _mm512_dpbusd_epi32(lo[k][j], ql, _mm512_set1_epi32(word(a)));
          hi[k][j] = _mm512_dpbusd_epi32(hi[k][j], qh, _mm512_set1_epi32(word(a + 32)));
        }
      }
      for (int k = 1; k < kChains<N>; ++k) {
        for (int j = 0; j < N; ++j) {
          lo[0][j] = _mm512_add_epi32(lo[0][j], lo[k][j]);
          hi[0][j] = _mm512_add_epi32(hi[0][j], hi[k][j]);
        }
      }
      const __m512i sc_lo = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(load64(b0.scales[2 * c]), load64(b1.scales[2 * c])));
      const __m512i sc_hi = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(load64(b0.scales[2 * c + 1]), load64(b1.scales[2 * c + 1])));
      for (int j = 0; j < N; ++j) {
        sumi[j] = _mm512_add_epi32(sumi[j], _mm512_add_epi32(_mm512_mullo_epi32(lo[0][j], sc_lo), _mm512_mullo_epi32(hi[0][j], sc_hi)));
      }
    }
    for (int j = 0; j < N; ++j) acc[j] = finish_q4_16(b0, b1, y[j * nb + ib], sumi[j], acc[j]);
  }
  for (int j = 0; j < N; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
}

// ---- Q6_K ----
// The 6-bit values 0..63 go into vpdpbusd as they are; the -32 offset comes off at the end through
// the activation sums (q6_offsets), as in the AVX2 kernel.

// 32 * sum over the 16 sub-blocks of scale[s][r] * (activation sum of sub-block s), per row r.
static inline __m256i q6_offsets_8(const BlockQ6_Kx8& b, const BlockQ8_K& yb) {
  __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};  // two chains: 8 dependent vpdpwssd would set the pace
  for (int i = 0; i < 8; ++i) {
    // int16 lanes (2r, 2r + 1) = scales of sub-blocks 2i and 2i + 1 of row r
    const __m128i pair = _mm_unpacklo_epi8(load64(b.scales[2 * i]), load64(b.scales[2 * i + 1]));
    acc[i % 2] = _mm256_dpwssd_epi32(acc[i % 2], _mm256_cvtepi8_epi16(pair), _mm256_set1_epi32(word(yb.bsums + 2 * i)));
  }
  return _mm256_slli_epi32(_mm256_add_epi32(acc[0], acc[1]), 5);
}

static inline __m512i q6_offsets_16(const BlockQ6_Kx8& b0, const BlockQ6_Kx8& b1, const BlockQ8_K& yb) {
  __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
  for (int i = 0; i < 8; ++i) {
    const __m128i pair0 = _mm_unpacklo_epi8(load64(b0.scales[2 * i]), load64(b0.scales[2 * i + 1]));
    const __m128i pair1 = _mm_unpacklo_epi8(load64(b1.scales[2 * i]), load64(b1.scales[2 * i + 1]));
    acc[i % 2] = _mm512_dpwssd_epi32(acc[i % 2], _mm512_cvtepi8_epi16(_mm256_set_m128i(pair1, pair0)), _mm512_set1_epi32(word(yb.bsums + 2 * i)));
  }
  return _mm512_slli_epi32(_mm512_add_epi32(acc[0], acc[1]), 5);
}

template <int N>
static void q6_x8_n(const BlockQ6_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ6_Kx8& b = w[ib];
    __m256i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      if (N == 1) prefetch_quarter(&w[ib + kPrefetchBlocks], c);
      for (int pp = 0; pp < 2; ++pp) {  // sub-blocks 4c + pp (values 64c + 16pp + [0, 16)) and 4c + 2 + pp (32 further)
        __m256i t[2][kQ6Chains<N>][N];  // [high][chain][row]
        for (int k = 0; k < kQ6Chains<N>; ++k) {
          for (int j = 0; j < N; ++j) t[0][k][j] = t[1][k][j] = _mm256_setzero_si256();
        }
#pragma GCC unroll 2
        for (int odd = 0; odd < 2; ++odd) {  // a constant once unrolled: it picks the chains
          const int p = 2 * pp + odd;
          const __m256i qa = load256(b.qs[c][p][0]);
          const __m256i qb = load256(b.qs[c][p][1]);
          const __m256i qh = load256(b.qs[c][p][2]);
#pragma GCC unroll 2
          for (int high = 0; high < 2; ++high) {
            __m256i wa, wb;
            if (high) {
              wa = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
              wb = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            } else {
              wa = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
              wb = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(qh, m30));
            }
            for (int j = 0; j < N; ++j) {
              const int8_t* a = y[j * nb + ib].qs + 64 * c + 32 * high + 8 * p;
              const int ka = (2 * odd) % kQ6Chains<N>, kb = (2 * odd + 1) % kQ6Chains<N>;
              t[high][ka][j] = _mm256_dpbusd_epi32(t[high][ka][j], wa, _mm256_set1_epi32(word(a)));
              t[high][kb][j] = _mm256_dpbusd_epi32(t[high][kb][j], wb, _mm256_set1_epi32(word(a + 4)));
            }
          }
        }
        for (int high = 0; high < 2; ++high) {
          const __m256i sc = _mm256_cvtepi8_epi32(load64(b.scales[4 * c + 2 * high + pp]));
          for (int j = 0; j < N; ++j) {
            for (int k = 1; k < kQ6Chains<N>; ++k) t[high][0][j] = _mm256_add_epi32(t[high][0][j], t[high][k][j]);
            sumi[j] = _mm256_add_epi32(sumi[j], _mm256_mullo_epi32(t[high][0][j], sc));
          }
        }
      }
    }
    const __m256 d = _mm256_loadu_ps(b.d);
    for (int j = 0; j < N; ++j) {
      const BlockQ8_K& yb = y[j * nb + ib];
      const __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[j], q6_offsets_8(b, yb))));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(yb.d), v, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

template <int N>
static void q6_x16_n(const BlockQ6_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  __m512 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ6_Kx8& b0 = w[ib];
    const BlockQ6_Kx8& b1 = w[nb + ib];
    __m512i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      if (N == 1) {
        prefetch_quarter(&w[ib + kPrefetchBlocks], c);
        prefetch_quarter(&w[nb + ib + kPrefetchBlocks], c);
      }
      for (int pp = 0; pp < 2; ++pp) {
        __m512i t[2][kQ6Chains<N>][N];  // [high][chain][row]
        for (int k = 0; k < kQ6Chains<N>; ++k) {
          for (int j = 0; j < N; ++j) t[0][k][j] = t[1][k][j] = _mm512_setzero_si512();
        }
#pragma GCC unroll 2
        for (int odd = 0; odd < 2; ++odd) {  // a constant once unrolled: it picks the chains
          const int p = 2 * pp + odd;
          const __m512i qa = load_pair(b0.qs[c][p][0], b1.qs[c][p][0]);
          const __m512i qb = load_pair(b0.qs[c][p][1], b1.qs[c][p][1]);
          const __m512i qh = load_pair(b0.qs[c][p][2], b1.qs[c][p][2]);
#pragma GCC unroll 2
          for (int high = 0; high < 2; ++high) {
            __m512i wa, wb;
            if (high) {
              wa = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qa, 4), m4), _mm512_and_si512(_mm512_slli_epi16(qh, 2), m30));
              wb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(qb, 4), m4), _mm512_and_si512(_mm512_srli_epi16(qh, 2), m30));
            } else {
              wa = _mm512_or_si512(_mm512_and_si512(qa, m4), _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30));
              wb = _mm512_or_si512(_mm512_and_si512(qb, m4), _mm512_and_si512(qh, m30));
            }
            for (int j = 0; j < N; ++j) {
              const int8_t* a = y[j * nb + ib].qs + 64 * c + 32 * high + 8 * p;
              const int ka = (2 * odd) % kQ6Chains<N>, kb = (2 * odd + 1) % kQ6Chains<N>;
              t[high][ka][j] = _mm512_dpbusd_epi32(t[high][ka][j], wa, _mm512_set1_epi32(word(a)));
              t[high][kb][j] = _mm512_dpbusd_epi32(t[high][kb][j], wb, _mm512_set1_epi32(word(a + 4)));
            }
          }
        }
        for (int high = 0; high < 2; ++high) {
          const int s = 4 * c + 2 * high + pp;
          const __m512i sc = _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(load64(b0.scales[s]), load64(b1.scales[s])));
          for (int j = 0; j < N; ++j) {
            for (int k = 1; k < kQ6Chains<N>; ++k) t[high][0][j] = _mm512_add_epi32(t[high][0][j], t[high][k][j]);
            sumi[j] = _mm512_add_epi32(sumi[j], _mm512_mullo_epi32(t[high][0][j], sc));
          }
        }
      }
    }
    const __m512 d = _mm512_castsi512_ps(load_pair(b0.d, b1.d));
    for (int j = 0; j < N; ++j) {
      const BlockQ8_K& yb = y[j * nb + ib];
      const __m512 v = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(sumi[j], q6_offsets_16(b0, b1, yb))));
      acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(yb.d), v, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
}

// The kernels by activation-row count, one group or two.
template <typename Block>
struct Kernels {
  void (*one[4])(const Block*, const BlockQ8_K*, int64_t, float*);
  void (*two[4])(const Block*, const BlockQ8_K*, int64_t, float*);
};
constexpr Kernels<BlockQ4_Kx8> kQ4{{q4_x8_n<1>, q4_x8_n<2>, q4_x8_n<3>, q4_x8_n<4>},
                                   {q4_x16_n<1>, q4_x16_n<2>, q4_x16_n<3>, q4_x16_n<4>}};
constexpr Kernels<BlockQ6_Kx8> kQ6{{q6_x8_n<1>, q6_x8_n<2>, q6_x8_n<3>, q6_x8_n<4>},
                                   {q6_x16_n<1>, q6_x16_n<2>, q6_x16_n<3>, q6_x16_n<4>}};

template <typename Block>
static void dispatch(const Kernels<Block>& k, const Block* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  const int i = (n_act < 1 ? 1 : n_act > 4 ? 4 : n_act) - 1;
  (n_groups == 2 ? k.two[i] : k.one[i])(w, a, n / QK_K, out);
}

}  // namespace

void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  dispatch(kQ4, w, n_groups, a, n, n_act, out);
}

void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  dispatch(kQ6, w, n_groups, a, n, n_act, out);
}

}  // namespace petrel::cpu::avx512

#endif  // defined(__x86_64__)
