// AVX2 dot products of one or two 8-row groups of repacked rows (BlockQ4_Kx8, BlockQ6_Kx8) with up
// to 4 Q8_K activation rows.
// Q4_K: per 4 activation bytes one broadcast, one vpmaddubsw covering all 8 rows, one int16 add; per
// sub-block of 32 values: one vpmaddwd by the 8 rows' scales. The min terms use the activation
// block sums: per pair of sub-blocks one vpmaddwd of the rows' mins against the broadcast sums.
// Q6_K: the same with a vpmaddwd by the scales per two vpmaddubsw (int16 holds no more), the 6-bit
// values put together from the nibble and bit-pair registers, and the -32 offset from the sums.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/repacked_dot_avx2.h"

#include <immintrin.h>

#include <cstring>

namespace petrel::cpu::avx2 {
namespace {

static inline void keep_in_register(__m256i& v) { __asm__("" : "+x"(v)); }

static inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Decode streams the repacked weights from memory once: the kernels fetch the block two ahead
// into L1, a quarter of it per quarter of the current block (the next group's blocks follow the
// last one, so the prefetch runs on into them; past the end of the buffer it is harmless). The
// hardware prefetchers alone left decode well below the memory's streaming rate
// (docs/PERFORMANCE.md#single-kernels).
template <typename Block>
static inline void prefetch_quarter(const Block* next, int quarter) {
  constexpr int kBytes = (sizeof(Block) + 3) / 4;
  const char* p = reinterpret_cast<const char*>(next) + quarter * kBytes;
  for (int off = 0; off < kBytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}
constexpr int64_t kPrefetchBlocks = 2;

static inline __m256i broadcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// The 8 rows' scales of one sub-block as 16 int16 lanes, each row's twice (lanes 2r, 2r + 1).
static inline __m256i expand_scales(const uint8_t* s8) {
  const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s8)), dup));
}

// acc += activation scale * (d * sumi - dmin * (mins . sub-block sums)) for one super-block of
// one 8-row group and one activation row.
static inline __m256 finish_block(const BlockQ4_Kx8& b, const BlockQ8_K& yb, __m256i sumi, __m256 acc) {
  // Sums of the activations over the 8 sub-blocks, as int16; int32 lane i = (S_2i, S_2i+1).
  const __m256i bs = load256(yb.bsums);
  const __m256i s = _mm256_castsi128_si256(_mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
  __m256i msum = _mm256_setzero_si256();
  for (int i = 0; i < 4; ++i) {
    const __m256i pair = _mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(i));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(load256(b.mins[i]), pair));
  }
  const __m256 d = _mm256_loadu_ps(b.d);
  const __m256 dmin = _mm256_loadu_ps(b.dmin);
  const __m256 v = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(msum), _mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi)));
  return _mm256_fmadd_ps(_mm256_set1_ps(yb.d), v, acc);
}

// One group: both nibbles of a loaded register are used at once (lo16 / hi16 per activation row).
template <int N>
static void dot_x8_n(const BlockQ4_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ4_Kx8& b = w[ib];
    __m256i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      if (N == 1) prefetch_quarter(&w[ib + kPrefetchBlocks], c);
      __m256i lo16[N], hi16[N];
      for (int j = 0; j < N; ++j) lo16[j] = hi16[j] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i packed = load256(b.qs[c][g]);
        const __m256i lo = _mm256_and_si256(packed, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), m4);
        for (int j = 0; j < N; ++j) {
          const int8_t* a = y[j * nb + ib].qs + 64 * c + 4 * g;
          lo16[j] = _mm256_add_epi16(lo16[j], _mm256_maddubs_epi16(lo, broadcast4(a)));
          hi16[j] = _mm256_add_epi16(hi16[j], _mm256_maddubs_epi16(hi, broadcast4(a + 32)));
          keep_in_register(lo16[j]);
          keep_in_register(hi16[j]);
        }
      }
      const __m256i sc_lo = expand_scales(b.scales[2 * c]);
      const __m256i sc_hi = expand_scales(b.scales[2 * c + 1]);
      for (int j = 0; j < N; ++j) {
        sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(_mm256_madd_epi16(lo16[j], sc_lo), _mm256_madd_epi16(hi16[j], sc_hi)));
      }
    }
    for (int j = 0; j < N; ++j) acc[j] = finish_block(b, y[j * nb + ib], sumi[j], acc[j]);
  }
  for (int j = 0; j < N; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

// Two groups (16 rows): each broadcast activation word feeds both groups' vpmaddubsw, which is
// what bounds this loop (a broadcast costs a shuffle uop, like the multiply-add it feeds). The
// low and high nibbles go in separate passes so the 2 x N int16 sums still fit the registers.
template <int N>
static void dot_x16_n(const BlockQ4_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[2][N];
  for (int j = 0; j < N; ++j) acc[0][j] = acc[1][j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ4_Kx8& b0 = w[ib];
    const BlockQ4_Kx8& b1 = w[nb + ib];
    __m256i sumi[2][N];
    for (int j = 0; j < N; ++j) sumi[0][j] = sumi[1][j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      for (int high = 0; high < 2; ++high) {  // sub-block 2c + high
        __m256i s16[2][N];
        for (int j = 0; j < N; ++j) s16[0][j] = s16[1][j] = _mm256_setzero_si256();
        for (int g = 0; g < 8; ++g) {
          __m256i q0 = load256(b0.qs[c][g]);
          __m256i q1 = load256(b1.qs[c][g]);
          if (high) {
            q0 = _mm256_srli_epi16(q0, 4);
            q1 = _mm256_srli_epi16(q1, 4);
          }
          q0 = _mm256_and_si256(q0, m4);
          q1 = _mm256_and_si256(q1, m4);
          for (int j = 0; j < N; ++j) {
            const __m256i a = broadcast4(y[j * nb + ib].qs + 64 * c + 32 * high + 4 * g);
            s16[0][j] = _mm256_add_epi16(s16[0][j], _mm256_maddubs_epi16(q0, a));
            s16[1][j] = _mm256_add_epi16(s16[1][j], _mm256_maddubs_epi16(q1, a));
            keep_in_register(s16[0][j]);
            keep_in_register(s16[1][j]);
          }
        }
        const __m256i sc0 = expand_scales(b0.scales[2 * c + high]);
        const __m256i sc1 = expand_scales(b1.scales[2 * c + high]);
        for (int j = 0; j < N; ++j) {
          sumi[0][j] = _mm256_add_epi32(sumi[0][j], _mm256_madd_epi16(s16[0][j], sc0));
          sumi[1][j] = _mm256_add_epi32(sumi[1][j], _mm256_madd_epi16(s16[1][j], sc1));
        }
      }
    }
    for (int j = 0; j < N; ++j) {
      acc[0][j] = finish_block(b0, y[j * nb + ib], sumi[0][j], acc[0][j]);
      acc[1][j] = finish_block(b1, y[j * nb + ib], sumi[1][j], acc[1][j]);
    }
  }
  for (int j = 0; j < N; ++j) {
    _mm256_storeu_ps(out + 16 * j, acc[0][j]);
    _mm256_storeu_ps(out + 16 * j + 8, acc[1][j]);
  }
}

// The 8 rows' int8 scales of one Q6_K sub-block as 16 int16 lanes, each row's twice.
static inline __m256i expand_scales_i8(const int8_t* s8) {
  const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s8)), dup));
}

// 32 * sum over the 16 sub-blocks of scale[s][r] * (activation sum of sub-block s), per row r.
static inline __m256i q6_offsets(const BlockQ6_Kx8& b, const BlockQ8_K& yb) {
  const __m256i bs = load256(yb.bsums);  // int32 lane i = (bsum 2i, bsum 2i + 1)
  __m256i acc = _mm256_setzero_si256();
  for (int i = 0; i < 8; ++i) {
    // lanes (2r, 2r + 1) = scales of sub-blocks 2i and 2i + 1 of row r
    const __m128i pair = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales[2 * i])),
                                           _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.scales[2 * i + 1])));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(pair), _mm256_permutevar8x32_epi32(bs, _mm256_set1_epi32(i))));
  }
  return _mm256_slli_epi32(acc, 5);
}

template <int N>
static void dot_q6_x8_n(const BlockQ6_Kx8* w, const BlockQ8_K* y, int64_t nb, float* out) {
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
      for (int p = 0; p < 4; ++p) {  // values 64c + 8p + [0, 8) (low) and 64c + 32 + 8p + [0, 8) (high)
        const __m256i qa = load256(b.qs[c][p][0]);
        const __m256i qb = load256(b.qs[c][p][1]);
        const __m256i qh = load256(b.qs[c][p][2]);
        for (int high = 0; high < 2; ++high) {  // sub-block 4c + 2 high + p / 2
          __m256i wa, wb;
          if (high) {
            wa = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            wb = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
          } else {
            wa = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            wb = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(qh, m30));
          }
          const __m256i sc = expand_scales_i8(b.scales[4 * c + 2 * high + p / 2]);
          for (int j = 0; j < N; ++j) {
            const int8_t* a = y[j * nb + ib].qs + 64 * c + 32 * high + 8 * p;
            const __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(wa, broadcast4(a)), _mm256_maddubs_epi16(wb, broadcast4(a + 4)));
            sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(s16, sc));
            keep_in_register(sumi[j]);
          }
        }
      }
    }
    const __m256 d = _mm256_loadu_ps(b.d);
    for (int j = 0; j < N; ++j) {
      const BlockQ8_K& yb = y[j * nb + ib];
      const __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[j], q6_offsets(b, yb))));
      acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(yb.d), v, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}


}  // namespace

void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / QK_K;
  if (n_groups == 2) {
    switch (n_act) {
      case 1: dot_x16_n<1>(w, a, nb, out); break;
      case 2: dot_x16_n<2>(w, a, nb, out); break;
      case 3: dot_x16_n<3>(w, a, nb, out); break;
      default: dot_x16_n<4>(w, a, nb, out); break;
    }
    return;
  }
  switch (n_act) {
    case 1: dot_x8_n<1>(w, a, nb, out); break;
    case 2: dot_x8_n<2>(w, a, nb, out); break;
    case 3: dot_x8_n<3>(w, a, nb, out); break;
    default: dot_x8_n<4>(w, a, nb, out); break;
  }
}

// The Q4_K quants of 8 rows move as an 8 x 8 transpose of 4-byte words per 64 values (24 shuffles
// for 256 bytes), the scales are unpacked inline. Its speed is what makes repacking per task pay
// off (docs/PERFORMANCE.md#single-kernels).
void repack_q4_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ4_Kx8* dst) {
  const int64_t nb = cols / QK_K;
  for (int64_t ib = 0; ib < nb; ++ib) {
    BlockQ4_Kx8& out = dst[ib];
    const BlockQ4_K* blk[8];
    for (int r = 0; r < 8; ++r) {
      blk[r] = reinterpret_cast<const BlockQ4_K*>(src + static_cast<uint64_t>(r) * row_bytes) + ib;
      uint16_t d, dmin;
      std::memcpy(&d, &blk[r]->d, 2);
      std::memcpy(&dmin, &blk[r]->dmin, 2);
      out.d[r] = _cvtsh_ss(d);
      out.dmin[r] = _cvtsh_ss(dmin);
      // generic::unpack_k4_scales's formula, written straight into the block: through that
      // helper's arrays (even inlined) the repack was slower.
      const uint8_t* q = blk[r]->scales;
      for (int j = 0; j < 4; ++j) {
        out.scales[j][r] = q[j] & 63;
        out.mins[j / 2][2 * r + j % 2] = q[j + 4] & 63;
        out.scales[j + 4][r] = static_cast<uint8_t>((q[j + 8] & 0xF) | ((q[j] >> 6) << 4));
        out.mins[(j + 4) / 2][2 * r + j % 2] = static_cast<uint8_t>((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
      }
    }
    for (int c = 0; c < 4; ++c) {
      __m256i v[8];
      for (int r = 0; r < 8; ++r) v[r] = load256(blk[r]->qs + 32 * c);  // word g of row r
      __m256i t[8], u[8];
      for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
      }
      for (int i = 0; i < 2; ++i) {
        u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
      }
      for (int g = 0; g < 4; ++g) {  // u[g]: rows 0-3, words g | g + 4; u[4 + g]: rows 4-7
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs[c][g]), _mm256_permute2x128_si256(u[g], u[4 + g], 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs[c][g + 4]), _mm256_permute2x128_si256(u[g], u[4 + g], 0x31));
      }
    }
  }
}

// Two groups take two passes over the same activation rows (in L1 by then). A two-group loop
// sharing the broadcasts, as for Q4_K, was slower: with an int32 sum per group and row it runs
// out of registers at 2 rows.
void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / QK_K;
  float part[8 * 4];
  for (int gi = 0; gi < n_groups; ++gi) {
    switch (n_act) {
      case 1: dot_q6_x8_n<1>(w + gi * nb, a, nb, part); break;
      case 2: dot_q6_x8_n<2>(w + gi * nb, a, nb, part); break;
      case 3: dot_q6_x8_n<3>(w + gi * nb, a, nb, part); break;
      default: dot_q6_x8_n<4>(w + gi * nb, a, nb, part); break;
    }
    for (int j = 0; j < n_act; ++j) std::memcpy(out + (j * n_groups + gi) * 8, part + 8 * j, 8 * sizeof(float));
  }
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
