// Weight decoding shared by the matrix shaders (mul_mat_vec, mul_mat_vec_id, mul_mat, get_rows):
// UNIT consecutive values of a weight row at a time, into registers, from the file's bytes read
// as 32-bit words (no 8- or 16-bit storage feature needed). Layouts and formulas are those of
// quant/blocks.h; the values equal quant/ref's dequantizers up to the rounding of a fused
// multiply-add.
//
// The including shader defines exactly one TYPE_<type> before including this file, and gets:
//   UNIT        values per decode_unit: 32 for the quantized types (one block of the 32-value
//               types, one 32-value piece of a 256-value super-block: a sub-block of Q4_K, Q5_K and
//               IQ4_XS, two 16-value sub-blocks of Q2_K, Q3_K and Q6_K), 4 for the float types (so
//               that neighbouring invocations read neighbouring 16- or 8-byte pieces)
//   FLOAT_TYPE  defined for F32, F16 and BF16, whose rows may end inside a unit
//   decode_unit(row, u, n_cols, v)
//               values [u * UNIT, u * UNIT + UNIT) of the row whose first byte is at byte address
//               `row` of binding 0, as UNIT / 4 vec4s. Float types: values at n_cols or beyond
//               are 0 and their bytes are not read. Quantized rows are whole units.
//
// Byte addresses: blocks of 18 bytes (Q4_0, IQ4_NL), 22 (Q5_0), 34 (Q8_0), 110 (Q3_K) and 210
// (Q6_K), and so the rows made of them, need not start on a word, and Q5_0's 32-bit field sits
// 2 bytes into its block, so multi-byte fields are assembled from the two words around them
// (w_u32). Weights start on a word and every block size is even, so 16-bit fields sit at even
// addresses and never straddle two words (w_u16).

layout(std430, binding = 0) readonly buffer WeightWords { uint w[]; };

uint w_u8(uint a) { return (w[a >> 2] >> (8u * (a & 3u))) & 0xFFu; }
uint w_u16(uint a) { return (w[a >> 2] >> (8u * (a & 2u))) & 0xFFFFu; }  // a even
uint w_u32(uint a) {
  const uint i = a >> 2, s = 8u * (a & 3u);
  // The next word is read only when the value reaches into it: the last bytes of the last row
  // may be the last of the binding.
  return s == 0u ? w[i] : (w[i] >> s) | (w[i + 1u] << (32u - s));
}
float w_f16(uint a) { return unpackHalf2x16(w_u16(a)).x; }

// The 4-bit fields at bits shift, shift + 8, shift + 16, shift + 24 of q.
vec4 nibbles(uint q, uint shift) {
  return vec4((q >> shift) & 0xFu, (q >> (shift + 8u)) & 0xFu, (q >> (shift + 16u)) & 0xFu,
              (q >> (shift + 24u)) & 0xFu);
}
// The four bytes of q as signed values.
vec4 signed_bytes(uint q) { return vec4(ivec4(uvec4(q << 24, q << 16, q << 8, q)) >> 24); }
// The fields of `mask` at bits shift, shift + 8, shift + 16, shift + 24 of q, one per byte (the
// 2-bit quants of Q2_K and Q3_K, Q3_K's high bits).
vec4 byte_fields(uint q, uint shift, uint mask) {
  return vec4((q >> shift) & mask, (q >> (shift + 8u)) & mask, (q >> (shift + 16u)) & mask,
              (q >> (shift + 24u)) & mask);
}
// Bits i..i + 3 of qh as four values 0 or 16: the fifth bits of four consecutive Q5_0 / Q5_1 values.
vec4 fifth_bits(uint qh, uint i) {
  const uint h = qh >> i;
  return 16.0 * vec4(h & 1u, (h >> 1) & 1u, (h >> 2) & 1u, (h >> 3) & 1u);
}

// Q4_K / Q5_K: scale and min of sub-block s from the 12 packed bytes at address a
// (ref::get_scale_min_k4).
vec2 scale_min_k4(uint a, uint s) {
  if (s < 4u) return vec2(w_u8(a + s) & 63u, w_u8(a + s + 4u) & 63u);
  const uint hi = w_u8(a + s + 4u);
  return vec2((hi & 0xFu) | ((w_u8(a + s - 4u) >> 6) << 4), (hi >> 4) | ((w_u8(a + s) >> 6) << 4));
}

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
#define FLOAT_TYPE
const uint UNIT = 4;
#else
const uint UNIT = 32;
#endif

#if defined(TYPE_F32)
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint c = 4u * u, i = (row >> 2) + c;  // F32 rows start on a word
  if (c + 4u <= n_cols) {
    v[0] = uintBitsToFloat(uvec4(w[i], w[i + 1u], w[i + 2u], w[i + 3u]));
  } else {
    for (uint e = 0u; e < 4u; ++e) v[0][e] = c + e < n_cols ? uintBitsToFloat(w[i + e]) : 0.0;
  }
}

#elif defined(TYPE_F16)
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint c = 4u * u, a = row + 8u * u;
  if (c + 4u <= n_cols) {
    v[0] = vec4(unpackHalf2x16(w_u32(a)), unpackHalf2x16(w_u32(a + 4u)));
  } else {
    for (uint e = 0u; e < 4u; ++e) v[0][e] = c + e < n_cols ? w_f16(a + 2u * e) : 0.0;
  }
}

#elif defined(TYPE_BF16)
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint c = 4u * u, a = row + 8u * u;
  if (c + 4u <= n_cols) {
    const uint q0 = w_u32(a), q1 = w_u32(a + 4u);
    v[0] = uintBitsToFloat(uvec4(q0 << 16, q0 & 0xFFFF0000u, q1 << 16, q1 & 0xFFFF0000u));
  } else {
    for (uint e = 0u; e < 4u; ++e) v[0][e] = c + e < n_cols ? uintBitsToFloat(w_u16(a + 2u * e) << 16) : 0.0;
  }
}

#elif defined(TYPE_Q4_0)
// Block of 18 bytes: fp16 d, 16 bytes of nibbles (low: values 0..15, high: 16..31); (q - 8) * d.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 18u * u;
  const float d = w_f16(b);
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 2u + 4u * k);
    v[k] = (nibbles(q, 0u) - 8.0) * d;
    v[k + 4u] = (nibbles(q, 4u) - 8.0) * d;
  }
}

#elif defined(TYPE_Q4_1)
// Block of 20 bytes: fp16 d and m, 16 bytes of nibbles laid out as Q4_0's; q * d + m.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 20u * u;
  const vec2 dm = unpackHalf2x16(w_u32(b));
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 4u + 4u * k);
    v[k] = nibbles(q, 0u) * dm.x + dm.y;
    v[k + 4u] = nibbles(q, 4u) * dm.x + dm.y;
  }
}

#elif defined(TYPE_Q5_0)
// Block of 22 bytes: fp16 d, the fifth bits as a little-endian u32 (bit j is value j's and adds
// 16), 16 bytes of nibbles laid out as Q4_0's; (q - 16) * d.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 22u * u;
  const float d = w_f16(b);
  const uint qh = w_u32(b + 2u);
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 6u + 4u * k);
    v[k] = (nibbles(q, 0u) + fifth_bits(qh, 4u * k) - 16.0) * d;
    v[k + 4u] = (nibbles(q, 4u) + fifth_bits(qh, 16u + 4u * k) - 16.0) * d;
  }
}

#elif defined(TYPE_Q5_1)
// Block of 24 bytes: fp16 d and m, the fifth bits as Q5_0's, 16 bytes of nibbles; q * d + m.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 24u * u;
  const vec2 dm = unpackHalf2x16(w_u32(b));
  const uint qh = w_u32(b + 4u);
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 8u + 4u * k);
    v[k] = (nibbles(q, 0u) + fifth_bits(qh, 4u * k)) * dm.x + dm.y;
    v[k + 4u] = (nibbles(q, 4u) + fifth_bits(qh, 16u + 4u * k)) * dm.x + dm.y;
  }
}

#elif defined(TYPE_Q8_0)
// Block of 34 bytes: fp16 d, 32 signed bytes; q * d.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 34u * u;
  const float d = w_f16(b);
  for (uint k = 0u; k < 8u; ++k) v[k] = signed_bytes(w_u32(b + 2u + 4u * k)) * d;
}

#elif defined(TYPE_Q2_K)
// Super-block of 84 bytes: 16 bytes of 4-bit scales and mins (byte i: scale of 16-value sub-block i
// in the low nibble, its min in the high), 64 bytes of 2-bit quants, fp16 d and dmin last. Unit
// s = 4 n + j (n: 128-value half) is bits 2j, 2j+1 of qs[32 n + l], l < 32, its first 16 values
// of sub-block 2s and its last 16 of 2s + 1; d * scale * q - dmin * min.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 84u * (u / 8u), s = u % 8u;
  const vec2 dm = unpackHalf2x16(w_u32(b + 80u));
  const uint sc = w_u16(b + 2u * s);  // the unit's two sub-blocks' scale and min bytes
  const float d0 = dm.x * float(sc & 0xFu), m0 = dm.y * float((sc >> 4) & 0xFu);
  const float d1 = dm.x * float((sc >> 8) & 0xFu), m1 = dm.y * float(sc >> 12);
  const uint q0 = b + 16u + 32u * (s / 4u), shift = 2u * (s % 4u);
  for (uint k = 0u; k < 8u; ++k) {
    const vec4 q = byte_fields(w_u32(q0 + 4u * k), shift, 3u);
    v[k] = k < 4u ? d0 * q - m0 : d1 * q - m1;
  }
}

#elif defined(TYPE_Q3_K)
// Super-block of 110 bytes: 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes of 6-bit
// scales, fp16 d last. Unit s = 4 n + j (n: 128-value half) is bits 2j, 2j+1 of qs[32 n + l] and
// bit s of hmask[l], l < 32, its first 16 values of sub-block 2s and its last 16 of 2s + 1;
// d * (scale - 32) * (q - (high bit ? 0 : 4)).
// Scale i (ref::dequantize_row_q3_K's unpacking): low nibble at bit 4 (i / 8) of byte i % 8, high
// pair at bit 2 (i / 4) of byte 8 + i % 4.
float q3_k_scale(uint a, uint i) {
  const uint lo = (w_u8(a + i % 8u) >> (4u * (i / 8u))) & 0xFu;
  const uint hi = (w_u8(a + 8u + i % 4u) >> (2u * (i / 4u))) & 3u;
  return float(int(lo | (hi << 4)) - 32);
}
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 110u * (u / 8u), s = u % 8u;
  const float d = w_f16(b + 108u);
  const float d0 = d * q3_k_scale(b + 96u, 2u * s), d1 = d * q3_k_scale(b + 96u, 2u * s + 1u);
  const uint q0 = b + 32u + 32u * (s / 4u), shift = 2u * (s % 4u);
  for (uint k = 0u; k < 8u; ++k) {
    const vec4 q = byte_fields(w_u32(q0 + 4u * k), shift, 3u) - 4.0 + 4.0 * byte_fields(w_u32(b + 4u * k), s, 1u);
    v[k] = (k < 4u ? d0 : d1) * q;
  }
}

#elif defined(TYPE_Q4_K)
// Super-block of 144 bytes: fp16 d and dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
// nibbles. Sub-block s is the low (s even) or high (s odd) nibbles of bytes [32 (s/2), +32);
// d * scale_s * q - dmin * min_s.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 144u * (u / 8u), s = u % 8u;
  const vec2 dm = unpackHalf2x16(w_u32(b));
  const vec2 sm = scale_min_k4(b + 4u, s);
  const float scale = dm.x * sm.x, offset = dm.y * sm.y;
  const uint q0 = b + 16u + 32u * (s / 2u), shift = 4u * (s % 2u);
  for (uint k = 0u; k < 8u; ++k) v[k] = scale * nibbles(w_u32(q0 + 4u * k), shift) - offset;
}

#elif defined(TYPE_Q5_K)
// Super-block of 176 bytes: as Q4_K with 32 bytes of fifth bits before the nibbles; the fifth
// bit of value l of sub-block s is bit s of byte l and adds 16.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 176u * (u / 8u), s = u % 8u;
  const vec2 dm = unpackHalf2x16(w_u32(b));
  const vec2 sm = scale_min_k4(b + 4u, s);
  const float scale = dm.x * sm.x, offset = dm.y * sm.y;
  const uint q0 = b + 48u + 32u * (s / 2u), shift = 4u * (s % 2u);
  for (uint k = 0u; k < 8u; ++k) {
    const uint h = w_u32(b + 16u + 4u * k) >> s;
    const vec4 hi = vec4(h & 1u, (h >> 8) & 1u, (h >> 16) & 1u, (h >> 24) & 1u);
    v[k] = scale * (nibbles(w_u32(q0 + 4u * k), shift) + 16.0 * hi) - offset;
  }
}

#elif defined(TYPE_Q6_K)
// Super-block of 210 bytes: 128 bytes of low nibbles, 64 of high bit pairs, 16 signed scales (one
// per 16 values), fp16 d last. Sub-block s = 4 n + g (n: 128-value half, g: quarter) takes the
// low (g < 2) or high nibbles of ql[64 n + 32 (g % 2) + l] and bits 2g, 2g+1 of qh[32 n + l];
// (d * scale) * (q - 32).
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 210u * (u / 8u), s = u % 8u, n = s / 4u, g = s % 4u;
  const float d = w_f16(b + 208u);
  const uint sc = w_u16(b + 192u + 8u * n + 2u * g);  // the sub-block's two 16-value scales
  const float d0 = d * float(int(sc << 24) >> 24), d1 = d * float(int(sc << 16) >> 24);
  const uint ql = b + 64u * n + 32u * (g % 2u), lshift = 4u * (g / 2u);
  const uint qh = b + 128u + 32u * n, hshift = 2u * g;
  for (uint k = 0u; k < 8u; ++k) {
    const uint h = w_u32(qh + 4u * k) >> hshift;
    const vec4 hi = vec4(h & 3u, (h >> 8) & 3u, (h >> 16) & 3u, (h >> 24) & 3u);
    v[k] = (k < 4u ? d0 : d1) * (nibbles(w_u32(ql + 4u * k), lshift) + 16.0 * hi - 32.0);
  }
}

#elif defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS)
// The 16 code points of both IQ4 types (kValuesIq4nl).
const float IQ4NL[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0,
                                  53.0, 69.0, 89.0, 113.0);
vec4 iq4_codes(uint q, uint shift) {
  return vec4(IQ4NL[(q >> shift) & 0xFu], IQ4NL[(q >> (shift + 8u)) & 0xFu], IQ4NL[(q >> (shift + 16u)) & 0xFu],
              IQ4NL[(q >> (shift + 24u)) & 0xFu]);
}

#if defined(TYPE_IQ4_NL)
// Block of 18 bytes: fp16 d, 16 bytes of 4-bit indices into the code points laid out as Q4_0's
// nibbles; d * code.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 18u * u;
  const float d = w_f16(b);
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 2u + 4u * k);
    v[k] = d * iq4_codes(q, 0u);
    v[k + 4u] = d * iq4_codes(q, 4u);
  }
}

#else
// Super-block of 136 bytes: fp16 d, 16 bits of scale high bits, 4 bytes of scale low nibbles,
// 128 bytes of 4-bit indices into the code points (per 32-value sub-block: low nibbles values
// 0..15, high 16..31); d * (ls - 32) * code.
void decode_unit(uint row, uint u, uint n_cols, out vec4 v[UNIT / 4]) {
  const uint b = row + 136u * (u / 8u), s = u % 8u;
  const uint ls = ((w_u8(b + 4u + s / 2u) >> (4u * (s % 2u))) & 0xFu) | (((w_u16(b + 2u) >> (2u * s)) & 3u) << 4);
  const float dl = w_f16(b) * float(int(ls) - 32);
  for (uint k = 0u; k < 4u; ++k) {
    const uint q = w_u32(b + 8u + 16u * s + 4u * k);
    v[k] = dl * iq4_codes(q, 0u);
    v[k + 4u] = dl * iq4_codes(q, 4u);
  }
}
#endif

#else
#error "define one TYPE_<type> before including dequant.glsl"
#endif
