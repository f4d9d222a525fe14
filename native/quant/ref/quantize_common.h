// Pieces both reference quantizer files share (k_quants_quantize.cpp without importance weights,
// weighted_quants.cpp with them): ggml's rounding, and every K-quant's last steps once the
// scales are chosen (they differ only in how they choose them): storing the scales in their
// packed fields, the levels against the scales as stored, and the bit packing of the levels.
// Include after quant/ref/strict_fp.h: these must not be contracted into FMAs either.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/ref/ref.h"

namespace petrel::ref {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest (ties to even) by adding 1.5 * 2^23 and reading the mantissa; valid for
// |v| < 2^22, as in ggml (beyond that both give the same wrapped value).
inline int nearest_int(float v) {
  const float biased = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &biased, sizeof i);
  return (i & 0x007FFFFF) - 0x00400000;
}

inline float fl(int v) { return static_cast<float>(v); }

// 2-bit fields of 4 consecutive 32-value runs share each byte (Q2_K and Q3_K layout).
inline void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}

// Q2_K super-block x once d, dmin and the 4-bit scale and min codes are stored: the levels
// (0..3) against them, packed into qs. A sub-block with a zero scale keeps the levels in L.
inline void finish_q2_K(const float* x, uint8_t* L, BlockQ2_K* y) {
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = fp16_to_fp32(y->d) * fl(y->scales[j] & 0xF);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(y->dmin) * fl(y->scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int((x[16 * j + ii] + dm) / d);
      L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
    }
  }
  pack_2bit(L, y->qs);
}

// Q3_K: sub-block j's 6-bit scale code (0..63) into the 12 scale bytes (zeroed beforehand): the
// low four bits in a nibble of bytes 0..7, the high two bits in bytes 8..11.
inline void set_scale_q3_K(int j, int code, uint8_t* scales) {
  if (j < 8) {
    scales[j] = static_cast<uint8_t>(code & 0xF);
  } else {
    scales[j - 8] |= static_cast<uint8_t>((code & 0xF) << 4);
  }
  scales[j % 4 + 8] |= static_cast<uint8_t>((code >> 4) << (2 * (j / 4)));
}

// Q3_K super-block x once d and the scales are stored: the levels (0..7) against them, their high
// bit into hmask (the first 32 values to bit 0 of hmask[0..31], the next 32 to bit 1, ...) and
// the low two bits packed into qs. A sub-block with a zero scale keeps the levels in L.
inline void finish_q3_K(const float* x, int8_t* L, BlockQ3_K* y) {
  for (int j = 0; j < QK_K / 16; ++j) {
    int sc = j < 8 ? (y->scales[j] & 0xF) : (y->scales[j - 8] >> 4);
    sc = (sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    const float d = fp16_to_fp32(y->d) * fl(sc);
    if (d == 0.0f) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
    }
  }
  std::memset(y->hmask, 0, QK_K / 8);
  int m = 0;
  uint8_t hm = 1;
  for (int j = 0; j < QK_K; ++j) {
    if (L[j] > 3) {
      y->hmask[m] |= hm;
      L[j] = static_cast<int8_t>(L[j] - 4);
    }
    if (++m == QK_K / 8) {
      m = 0;
      hm = static_cast<uint8_t>(hm << 1);
    }
  }
  pack_2bit(reinterpret_cast<const uint8_t*>(L), y->qs);
}

// Q4_K / Q5_K: sub-block j's 6-bit scale and min codes into the 12 scale bytes (what
// get_scale_min_k4 reads back).
inline void set_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* scales) {
  if (j < 4) {
    scales[j] = ls;
    scales[j + 4] = lm;
  } else {
    scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// Q4_K / Q5_K super-block x once d, dmin and the scales are stored: the levels (0..nmax) against
// them. A sub-block with a zero scale keeps the levels in L.
template <typename Block>
void levels_k4(const float* x, const Block& y, int nmax, uint8_t* L) {
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, y.scales, &sc, &m);
    const float d = fp16_to_fp32(y.d) * fl(sc);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(y.dmin) * fl(m);
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// Q4_K levels (0..15), two to a byte: values l and l + 32 of each 64.
inline void pack_q4_K(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 64) {
    for (int l = 0; l < 32; ++l) qs[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    qs += 32;
  }
}

// Q5_K levels (0..31): the low four bits as Q4_K packs them, the fifth bit of value l of 64-value
// group g in bit 2g (l < 32) or 2g + 1 of qh[l % 32].
inline void pack_q5_K(const uint8_t* L, uint8_t* qh, uint8_t* qs) {
  std::memset(qh, 0, QK_K / 8);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < QK_K; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      int l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      qs[j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<uint8_t>(m1 << 2);
    m2 = static_cast<uint8_t>(m2 << 2);
    qs += 32;
  }
}

// Q6_K super-block x from its 16 sub-block scales (max_scale: the one of largest magnitude, not
// ~0): d and the int8 scales, the levels (L, 0..63) of every value, packed into ql / qh.
inline void finish_q6_K(const float* x, const float* scales, float max_scale, int8_t* L, BlockQ6_K* y) {
  const float iscale = -128.f / max_scale;
  y->d = fp32_to_fp16(1 / iscale);
  for (int ib = 0; ib < QK_K / 16; ++ib) {
    y->scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  }
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = fp16_to_fp32(y->d) * fl(y->scales[j]);
    if (d == 0.0f) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
    }
  }
  uint8_t* ql = y->ql;
  uint8_t* qh = y->qh;
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF;
      const uint8_t q2 = L[j + l + 32] & 0xF;
      const uint8_t q3 = L[j + l + 64] & 0xF;
      const uint8_t q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                   ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

}  // namespace petrel::ref
