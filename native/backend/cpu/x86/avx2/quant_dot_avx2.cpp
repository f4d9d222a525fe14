// AVX2 quantized dot products of one weight row with up to kMaxDotActs activation rows.
//
// Each weight block is unpacked to bytes once and multiplied with every activation row while it
// is in registers, which is what makes prefill faster than one row-by-row dot per token: the
// unpacking (shifts, masks, scale shuffles) costs about as much as the multiplies themselves.
// Products use vpmaddubsw (unsigned weight bytes x signed activation bytes -> int16 pairs) and
// vpmaddwd (x the int16 sub-block scale -> int32), exact for every input these formats produce;
// the constant offsets (Q4_K/Q5_K mins, Q6_K's -32) come from the activations' block sums.
// Helpers are static (see kernels.h).
#if defined(__x86_64__)

#include "backend/cpu/x86/avx2/quant_dot_avx2.h"

#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "quant/blocks.h"

namespace petrel::cpu::avx2 {
namespace {

static inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float half(uint16_t h) { return _cvtsh_ss(h); }

// An empty asm that claims to change v: the compiler must finish each accumulation step in
// order instead of re-associating the integer adds into a tree of 32 live products, which
// spills most of them to the stack (GCC 12 does this).
static inline void keep_in_register(__m256i& v) { __asm__("" : "+x"(v)); }

static inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
static inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Signed 32 x signed 32 bytes -> 8 int32 sums: maddubs needs one unsigned operand, so take |w|
// and move w's sign onto a. Exact while a != -128 (Q8_0 activations stay in [-127, 127]).
static inline __m256i dot_i8_signed(__m256i w, __m256i a) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// ---- 32-element formats against Q8_0 -----------------------------------------------------------

// The weights of one 32-element block as signed bytes.
static inline __m256i unpack_q8_0(const BlockQ8_0& b) { return load256(b.qs); }

// Q4_0 nibbles -> signed bytes q - 8 (low nibbles are elements 0-15, high nibbles 16-31).
static inline __m256i unpack_q4_0(const BlockQ4_0& b) {
  const __m128i packed = load128(b.qs);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), m4), _mm_and_si128(packed, m4));
  return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

// A 32-element format (weights unpacked to signed bytes by Unpack, fp16 scale d) against Q8_0.
template <int N, typename Block, __m256i (*Unpack)(const Block&)>
static void dot_32_n(const Block* x, const BlockQ8_0* y, int64_t nb, float* out) {
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const __m256i w = Unpack(x[ib]);
    const float dx = half(x[ib].d);
    for (int j = 0; j < N; ++j) {
      const BlockQ8_0& b = y[j * nb + ib];
      const __m256 d = _mm256_set1_ps(dx * half(b.d));
      acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8_signed(w, load256(b.qs))), d, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = hsum_ps(acc[j]);
}

// ---- K-quants against Q8_K -----------------------------------------------------------------------

// The 8 six-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K / Q5_K super-block, from its
// 12 packed bytes: bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7,
// bytes 4-7 the same for the mins, bytes 8-11 the low 4 bits of scales 4-7 and mins 4-7 (as
// nibbles). Done four lanes at a time in 32-bit words.
static inline __m128i unpack_k4_scales(const uint8_t* q) {
  uint32_t w0, w1, w2;
  __builtin_memcpy(&w0, q, 4);
  __builtin_memcpy(&w1, q + 4, 4);
  __builtin_memcpy(&w2, q + 8, 4);
  const uint32_t s03 = w0 & 0x3F3F3F3Fu;
  const uint32_t s47 = (w2 & 0x0F0F0F0Fu) | (((w0 >> 6) & 0x03030303u) << 4);
  const uint32_t m03 = w1 & 0x3F3F3F3Fu;
  const uint32_t m47 = ((w2 >> 4) & 0x0F0F0F0Fu) | (((w1 >> 6) & 0x03030303u) << 4);
  return _mm_set_epi32(static_cast<int>(m47), static_cast<int>(m03), static_cast<int>(s47), static_cast<int>(s03));
}

// Low half: lane k, high half: lane k + 1 (the two scales of one 32-value group of Q6_K).
alignas(32) static const uint8_t kBroadcastI16Pair[4][32] = {
#define PETREL_P16(k) {4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, 4*k, 4*k+1, \
                       4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3, 4*k+2, 4*k+3}
    PETREL_P16(0), PETREL_P16(1), PETREL_P16(2), PETREL_P16(3),
#undef PETREL_P16
};

static inline __m256i shuffle(__m256i v, const uint8_t* mask) {
  return _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(mask)));
}

// Each byte's bit k moved to bit 4 (other bits are garbage; the caller masks with 0x10).
static inline __m256i shift_left_4_minus(__m256i v, int k) {
  return k <= 4 ? _mm256_slli_epi16(v, 4 - k) : _mm256_srli_epi16(v, k - 4);
}

// One Q4_K / Q5_K super-block is 4 chunks of 64 values: the low nibbles (plus bit 2c of qh for
// Q5_K) are sub-block 2c, the high nibbles (plus bit 2c + 1) sub-block 2c + 1.
// Per super-block and activation row: dy * (d * sum_j scale_j (q . a)_j - dmin * sum_j min_j asum_j),
// where asum_j comes from the row's bsums (each min is paired with two sums of 16).
template <int N, bool kFifthBit, typename Block>
static void dot_q45_K_n(const Block* x, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  // bytes 8-15 (the mins) each twice, for vpmaddwd against the 16 bsums
  const __m128i dup_mins = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const Block& blk = x[ib];
    const __m128i sm8 = unpack_k4_scales(blk.scales);
    alignas(32) int16_t scales[16];  // broadcast from memory below: one instruction each
    _mm256_store_si256(reinterpret_cast<__m256i*>(scales), _mm256_cvtepu8_epi16(sm8));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm8, dup_mins));
    __m256i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i packed = load256(blk.qs + 32 * c);
      __m256i lo = _mm256_and_si256(packed, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), m4);
      if constexpr (kFifthBit) {
        // Bits 2c and 2c + 1 of each qh byte, moved to bit 4 (16-bit shifts carry bits across
        // the two bytes of a lane only into positions the mask clears).
        const __m256i hbits = load256(blk.qh);
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(shift_left_4_minus(hbits, 2 * c), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(shift_left_4_minus(hbits, 2 * c + 1), bit4));
      }
      const __m256i sc0 = _mm256_set1_epi16(scales[2 * c]);
      const __m256i sc1 = _mm256_set1_epi16(scales[2 * c + 1]);
      for (int j = 0; j < N; ++j) {
        const int8_t* a = y[j * nb + ib].qs + 64 * c;
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(a)), sc0);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(a + 32)), sc1);
        sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(p0, p1));
        keep_in_register(sumi[j]);
      }
    }
    const __m256 d = _mm256_set1_ps(half(blk.d));
    const __m256 dmin = _mm256_set1_ps(half(blk.dmin));
    for (int j = 0; j < N; ++j) {
      const BlockQ8_K& b = y[j * nb + ib];
      const __m256 msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins, load256(b.bsums)));
      const __m256 v = _mm256_fnmadd_ps(dmin, msum, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi[j])));
      acc[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(&b.d), v, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = hsum_ps(acc[j]);
}

// Q6_K: each half of 128 values has 64 bytes of low nibbles and 32 bytes of 2-bit highs, giving 4
// groups of 32 (ql[l] low, ql[l+32] low, ql[l] high, ql[l+32] high with qh bits 0-1, 2-3, 4-5,
// 6-7). Values are 0..63 here; the -32 is applied once per super-block through the bsums.
template <int N>
static void dot_q6_K_n(const BlockQ6_K* x, const BlockQ8_K* y, int64_t nb, float* out) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  __m256 acc[N];
  for (int j = 0; j < N; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t ib = 0; ib < nb; ++ib) {
    const BlockQ6_K& blk = x[ib];
    const __m128i scales8 = load128(blk.scales);
    const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
    __m256i sumi[N];
    for (int j = 0; j < N; ++j) sumi[j] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      // this half's 8 scales as int16, in both 128-bit halves
      const __m256i sc_half =
          _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h == 0 ? scales8 : _mm_srli_si128(scales8, 8)));
      const __m256i ql0 = load256(blk.ql + 64 * h);
      const __m256i ql1 = load256(blk.ql + 64 * h + 32);
      const __m256i qh = load256(blk.qh + 32 * h);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), _mm256_set1_epi8(0x30)));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), _mm256_set1_epi8(0x30)));
      for (int g = 0; g < 4; ++g) {
        // maddubs lanes 0-7 cover values 0-15 of group g (scale 2g), lanes 8-15 values 16-31.
        const __m256i sc = shuffle(sc_half, kBroadcastI16Pair[g]);
        for (int j = 0; j < N; ++j) {
          const int8_t* a = y[j * nb + ib].qs + 128 * h + 32 * g;
          sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], load256(a)), sc));
          keep_in_register(sumi[j]);
        }
      }
    }
    // Group k of 16 values has scale k and bsum k: subtract 32 * sum_k scale_k * bsum_k.
    const __m256 d = _mm256_set1_ps(half(blk.d));
    for (int j = 0; j < N; ++j) {
      const BlockQ8_K& b = y[j * nb + ib];
      const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load256(b.bsums)), 5);
      const __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[j], offset)));
      acc[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(&b.d), v, acc[j]);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = hsum_ps(acc[j]);
}

// n_act (1..kMaxDotActs) -> the instantiation for that many activation rows.
template <typename WBlock, typename ABlock, int kBlock, template <int> class Kernel>
static void dispatch_n(const void* w, const void* a, int64_t n, int n_act, float* out) {
  const auto* x = static_cast<const WBlock*>(w);
  const auto* y = static_cast<const ABlock*>(a);
  const int64_t nb = n / kBlock;
  switch (n_act) {
    case 1: Kernel<1>::run(x, y, nb, out); break;
    case 2: Kernel<2>::run(x, y, nb, out); break;
    case 3: Kernel<3>::run(x, y, nb, out); break;
    default: Kernel<4>::run(x, y, nb, out); break;
  }
}

template <int N> struct Q4_0Kernel { static void run(const BlockQ4_0* x, const BlockQ8_0* y, int64_t nb, float* o) { dot_32_n<N, BlockQ4_0, unpack_q4_0>(x, y, nb, o); } };
template <int N> struct Q8_0Kernel { static void run(const BlockQ8_0* x, const BlockQ8_0* y, int64_t nb, float* o) { dot_32_n<N, BlockQ8_0, unpack_q8_0>(x, y, nb, o); } };
template <int N> struct Q4_KKernel { static void run(const BlockQ4_K* x, const BlockQ8_K* y, int64_t nb, float* o) { dot_q45_K_n<N, false>(x, y, nb, o); } };
template <int N> struct Q5_KKernel { static void run(const BlockQ5_K* x, const BlockQ8_K* y, int64_t nb, float* o) { dot_q45_K_n<N, true>(x, y, nb, o); } };
template <int N> struct Q6_KKernel { static void run(const BlockQ6_K* x, const BlockQ8_K* y, int64_t nb, float* o) { dot_q6_K_n<N>(x, y, nb, o); } };

static_assert(kMaxDotActs == 4, "dispatch_n instantiates 1..4 activation rows");

}  // namespace

void dot_q4_0(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dispatch_n<BlockQ4_0, BlockQ8_0, QK4_0, Q4_0Kernel>(w, a, n, n_act, out);
}
void dot_q8_0(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dispatch_n<BlockQ8_0, BlockQ8_0, QK8_0, Q8_0Kernel>(w, a, n, n_act, out);
}
void dot_q4_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dispatch_n<BlockQ4_K, BlockQ8_K, QK_K, Q4_KKernel>(w, a, n, n_act, out);
}
void dot_q5_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dispatch_n<BlockQ5_K, BlockQ8_K, QK_K, Q5_KKernel>(w, a, n, n_act, out);
}
void dot_q6_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dispatch_n<BlockQ6_K, BlockQ8_K, QK_K, Q6_KKernel>(w, a, n, n_act, out);
}

}  // namespace petrel::cpu::avx2

#endif  // defined(__x86_64__)
