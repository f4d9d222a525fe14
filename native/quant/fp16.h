// Scalar fp16 <-> fp32 and bf16 <-> fp32 conversions, bit-identical to ggml's
// (ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16 / ggml_compute_fp32_to_bf16).
// All done with integer arithmetic: ggml's float trick for fp32 -> fp16 relies on two separately
// rounded float operations, which a compiler allowed to contract a*b+c into an FMA (the SIMD files
// are built with -mfma) would silently change. The integer forms give the same bits everywhere.
#pragma once

#include <cstdint>
#include <cstring>

namespace petrel {

static inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

static inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Exact. NaNs keep their payload and come back quiet (as ggml's multiply-based version and F16C do).
static inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0u));
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in fp32 (a product by a power of two).
    const float v = static_cast<float>(man) * 0x1p-24f;
    return f32_from_bits(sign | f32_bits(v));
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest, ties to even; overflow gives inf; every NaN becomes 0x7E00 with the sign kept
// (ggml drops NaN payloads, unlike F16C's vcvtps2ph).
static inline uint16_t fp32_to_fp16(float f) {
  const uint32_t w = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((w >> 16) & 0x8000u);
  const uint32_t a = w & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7E00u;   // NaN
  if (a >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to inf
  if (a < 0x38800000u) {                        // below 2^-14: fp16 subnormal (or zero)
    if (a < 0x33000000u) return sign;           // <= 2^-25 rounds to zero (the tie goes to even 0)
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;            // 14..24: units of 2^-24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return sign | static_cast<uint16_t>(q);
  }
  const uint32_t r = a - 0x38000000u;           // rebias the exponent 127 -> 15
  uint32_t q = r >> 13;
  const uint32_t rem = r & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;  // a carry into the exponent is right
  return sign | static_cast<uint16_t>(q);
}

static inline float bf16_to_fp32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

// ggml_compute_fp32_to_bf16: NaNs are truncated and forced quiet; everything else rounds to
// nearest even (subnormals included, overflow to inf).
static inline uint16_t fp32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 64u);
  return static_cast<uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

// E8M0 exponent byte -> 2^(e-128), i.e. half of 2^(e-127): the MXFP4 code points are doubled.
// e = 0 and 1 are fp32 subnormals (ggml_e8m0_to_fp32_half).
static inline float e8m0_to_fp32_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  return f32_from_bits(bits);
}

}  // namespace petrel
