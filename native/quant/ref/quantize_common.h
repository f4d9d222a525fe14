// Pieces both reference quantizer files share (k_quants_quantize.cpp without importance weights,
// weighted_quants.cpp with them): ggml's rounding, the 2-bit packing of Q2_K/Q3_K, and the last
// step of Q6_K (scales to int8, levels, packing) once each sub-block's float scale is chosen.
// Include after quant/ref/strict_fp.h: these must not be contracted into FMAs either.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/fp16.h"

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
