// Block layouts of the ggml quantized tensor types, byte for byte as in llama.cpp's
// ggml/src/ggml-common.h (these bytes are what GGUF files store, so the layout is the format).
// Each struct gives its bits per weight, its decode formula and a size static_assert.
// All multi-byte fields are little-endian; `uint16_t d` fields hold IEEE fp16 bits (see fp16.h).
// Plain C++17 so that nvcc can include it too.
#pragma once

#include <cstdint>

namespace petrel {

constexpr int QK4_0 = 32;
constexpr int QK4_1 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_0 = 32;
constexpr int QK8_1 = 32;
constexpr int QK4_NL = 32;
constexpr int QK_MXFP4 = 32;
constexpr int QK_K = 256;          // super-block size of the K-quants and IQ4_XS
constexpr int K_SCALE_SIZE = 12;   // packed 6-bit scales + mins of Q4_K / Q5_K

// ---- legacy formats: one scale per 32 values -------------------------------------------------

// Q4_0, 4.5 bpw. y[j] = ((qs[j] & 0xF) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d, j < 16.
struct BlockQ4_0 {
  uint16_t d;              // fp16 scale
  uint8_t qs[QK4_0 / 2];   // nibbles: low = element j, high = element j+16
};
static_assert(sizeof(BlockQ4_0) == 18, "block_q4_0 is 18 bytes");

// Q4_1, 5 bpw. y[j] = (qs[j] & 0xF) * d + m, y[j+16] = (qs[j] >> 4) * d + m.
struct BlockQ4_1 {
  uint16_t d;              // fp16 scale
  uint16_t m;              // fp16 min
  uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "block_q4_1 is 20 bytes");

// Q5_0, 5.5 bpw. Element j takes bit j of qh (u32) as its 5th bit, element j+16 bit j+16;
// y = (q5 - 16) * d.
struct BlockQ5_0 {
  uint16_t d;              // fp16 scale
  uint8_t qh[4];           // 5th bits, a little-endian u32 (unaligned inside the block)
  uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "block_q5_0 is 22 bytes");

// Q5_1, 6 bpw. As Q5_0 without the -16: y = q5 * d + m.
struct BlockQ5_1 {
  uint16_t d;              // fp16 scale
  uint16_t m;              // fp16 min
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "block_q5_1 is 24 bytes");

// Q8_0, 8.5 bpw. y[j] = qs[j] * d.
struct BlockQ8_0 {
  uint16_t d;              // fp16 scale
  int8_t qs[QK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 is 34 bytes");

// Q8_1, 9 bpw (activation format of some dot products). y[j] = qs[j] * d; s = d * sum(qs).
struct BlockQ8_1 {
  uint16_t d;              // fp16 scale
  uint16_t s;              // fp16 d * sum(qs)
  int8_t qs[QK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36, "block_q8_1 is 36 bytes");

// ---- K-quants: 256-value super-blocks with quantized sub-block scales ------------------------

// Q2_K, 2.625 bpw. 16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high nibble).
// For each 128-value half n and shift s in {0,2,4,6}: two sub-blocks of 16 read
// q = (qs[32n + l] >> s) & 3 (l < 16, then l + 16);  y = d * sc * q - dmin * m.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];  // 4-bit scale | 4-bit min << 4
  uint8_t qs[QK_K / 4];       // 2-bit quants
  uint16_t d;                 // fp16 super-block scale of the scales
  uint16_t dmin;              // fp16 super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84, "block_q2_K is 84 bytes");

// Q3_K, 3.4375 bpw. 16 sub-blocks of 16 with signed 6-bit scales (packed in 12 bytes:
// low nibbles in bytes 0..7, high 2 bits in bytes 8..11), y = d * (sc - 32) * (q2 - (hbit ? 0 : 4)).
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];    // high bit of each quant
  uint8_t qs[QK_K / 4];       // low 2 bits
  uint8_t scales[12];         // 6-bit scales
  uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ3_K) == 110, "block_q3_K is 110 bytes");

// Q4_K, 4.5 bpw. 8 sub-blocks of 32 with 6-bit scale sc and min m (get_scale_min_k4);
// per 64-value group g: y[l] = d*sc(2g)*(qs[32g+l] & 0xF) - dmin*m(2g),
//                       y[l+32] = d*sc(2g+1)*(qs[32g+l] >> 4) - dmin*m(2g+1).
struct BlockQ4_K {
  uint16_t d;                     // fp16 super-block scale of the scales
  uint16_t dmin;                  // fp16 super-block scale of the mins
  uint8_t scales[K_SCALE_SIZE];   // 6-bit scales and mins
  uint8_t qs[QK_K / 2];           // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144, "block_q4_K is 144 bytes");

// Q5_K, 5.5 bpw. As Q4_K; the 5th bit of value l of group g is bit 2g (low half) or 2g+1
// (high half) of qh[l] and adds 16.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];           // high bits
  uint8_t qs[QK_K / 2];           // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176, "block_q5_K is 176 bytes");

// Q6_K, 6.5625 bpw. 16 sub-blocks of 16 with int8 scales; q = (4 bits of ql | 2 bits of qh << 4) - 32,
// y = d * scales[is] * q. Note d comes last.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];       // low 4 bits
  uint8_t qh[QK_K / 4];       // high 2 bits
  int8_t scales[QK_K / 16];   // 8-bit scales
  uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "block_q6_K is 210 bytes");

// Q8_K, 9.125 bpw; activations only (never stored in model files). y = d * qs; note d is fp32.
struct BlockQ8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];   // sums of qs in groups of 16 (for the K-quant min terms)
};
static_assert(sizeof(BlockQ8_K) == 292, "block_q8_K is 292 bytes");

// ---- non-linear 4-bit formats ------------------------------------------------------------------

// The 16 IQ4_NL / IQ4_XS code points (kvalues_iq4nl).
inline constexpr int8_t kValuesIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// IQ4_NL, 4.5 bpw. y[j] = d * kValuesIq4nl[qs[j] & 0xF], y[j+16] = d * kValuesIq4nl[qs[j] >> 4].
struct BlockIq4Nl {
  uint16_t d;
  uint8_t qs[QK4_NL / 2];
};
static_assert(sizeof(BlockIq4Nl) == 18, "block_iq4_nl is 18 bytes");

// IQ4_XS, 4.25 bpw. 8 sub-blocks of 32 with 6-bit scales ls (low 4 bits in scales_l, high 2 in
// scales_h); y = d * (ls - 32) * kValuesIq4nl[nibble], nibbles laid out as IQ4_NL per sub-block.
struct BlockIq4Xs {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[QK_K / 64];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockIq4Xs) == 136, "block_iq4_xs is 136 bytes");

// The 16 E2M1 code points of MXFP4, doubled (so that they are integers; the scale is halved).
inline constexpr int8_t kValuesMxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// MXFP4, 4.25 bpw. e is an E8M0 exponent: y[j] = kValuesMxfp4[qs[j] & 0xF] * 2^(e-128),
// y[j+16] likewise with the high nibble.
struct BlockMxfp4 {
  uint8_t e;
  uint8_t qs[QK_MXFP4 / 2];
};
static_assert(sizeof(BlockMxfp4) == 17, "block_mxfp4 is 17 bytes");

}  // namespace petrel
