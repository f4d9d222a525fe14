// Reference (de)quantization of the non-linear 4-bit formats IQ4_NL (32-value blocks) and IQ4_XS
// (256-value super-blocks with 6-bit sub-block scales), bit-identical to ggml. The quantizers
// reproduce ggml_quantize_chunk without an imatrix: quantize_row_iq4_nl_impl with ntry = 7.
#include "quant/ref/strict_fp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ref/ref.h"
#include "quant/ref/quantize_common.h"
#include "quant/ref/weighted.h"

namespace petrel::ref {
namespace {

constexpr int kNtry = 7;  // what quantize_iq4_nl / quantize_iq4_xs pass

// Index of the code point nearest to x by bisection (ggml's best_index_int8; ties go up).
inline int best_index_int8(const int8_t* val, float x) {
  constexpr int n = 16;
  if (x <= static_cast<float>(val[0])) return 0;
  if (x >= static_cast<float>(val[n - 1])) return n - 1;
  int ml = 0, mu = n - 1;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < static_cast<float>(val[mav])) mu = mav; else ml = mav;
  }
  return x - static_cast<float>(val[mu - 1]) < static_cast<float>(val[mu]) - x ? mu - 1 : mu;
}

// ggml's quantize_row_iq4_nl_impl for one super-block of `super_block_size` values in sub-blocks
// of 32. Without quant weights each value is weighted by x^2; with them (an imatrix, qw holds
// super_block_size importances) by qw * sqrt(sigma2 + x^2). With one sub-block (IQ4_NL) the scale
// is stored as fp16 directly; with several (IQ4_XS) the sub-block scales become 6-bit ints times d.
void quantize_iq4_superblock(int super_block_size, const float* x, uint16_t* dh, uint8_t* q4,
                             uint16_t* scales_h, uint8_t* scales_l, float* scales, uint8_t* L,
                             const float* qw = nullptr) {
  constexpr int block_size = 32;
  const int8_t* values = kValuesIq4nl;
  float weight[block_size];
  float sigma2 = 0;
  if (qw) {
    for (int j = 0; j < super_block_size; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / static_cast<float>(super_block_size);
  }

  std::memset(q4, 0, static_cast<size_t>(super_block_size / 2));
  dh[0] = fp32_to_fp16(0.f);

  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super_block_size / block_size; ++ib) {
    const float* xb = x + ib * block_size;
    uint8_t* Lb = L + ib * block_size;
    if (qw) {
      const float* qb = qw + ib * block_size;
      for (int j = 0; j < block_size; ++j) weight[j] = qb[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
      for (int j = 0; j < block_size; ++j) weight[j] = xb[j] * xb[j];
    }
    float amax = 0, max = 0;
    for (int j = 0; j < block_size; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < kGroupMaxEps) {
      scales[ib] = 0;
      continue;
    }
    float d = -max / static_cast<float>(values[0]);
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < block_size; ++j) {
      const float al = id * xb[j];
      const int l = best_index_int8(values, al);
      Lb[j] = static_cast<uint8_t>(l);
      const float q = static_cast<float>(values[l]);
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kNtry; itry <= kNtry; ++itry) {
      id = static_cast<float>(itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < block_size; ++j) {
        const float al = id * xb[j];
        const int l = best_index_int8(values, al);
        const float q = static_cast<float>(values[l]);
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }

  if (super_block_size / block_size > 1) {
    const int nb = super_block_size / block_size;
    std::memset(scales_h, 0, static_cast<size_t>((nb + 7) / 8) * sizeof(uint16_t));
    const float d = -max_scale / 32;
    dh[0] = fp32_to_fp16(d);
    const float id = d != 0.0f ? 1 / d : 0.f;
    for (int ib = 0; ib < nb; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = std::max(-32, std::min(31, l));
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0.0f ? 1 / dl : 0.f;
      uint8_t* Lb = L + ib * block_size;
      const float* xb = x + ib * block_size;
      for (int j = 0; j < block_size; ++j) Lb[j] = static_cast<uint8_t>(best_index_int8(values, idl * xb[j]));
      l += 32;
      const uint8_t l_l = static_cast<uint8_t>(l & 0xF);
      const uint8_t l_h = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) scales_l[ib / 2] = l_l;
      else scales_l[ib / 2] |= static_cast<uint8_t>(l_l << 4);
      scales_h[ib / 8] |= static_cast<uint16_t>(l_h << (2 * (ib % 8)));
    }
  } else {
    dh[0] = fp32_to_fp16(scales[0]);
    const float id = scales[0] != 0.0f ? 1 / scales[0] : 0;
    for (int j = 0; j < super_block_size; ++j) L[j] = static_cast<uint8_t>(best_index_int8(values, id * x[j]));
  }

  for (int i = 0; i < super_block_size / 32; ++i) {
    for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

}  // namespace

void dequantize_row_iq4_nl(const BlockIq4Nl* x, float* y, int64_t n) {
  const int64_t nb = n / QK4_NL;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* qs = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * static_cast<float>(kValuesIq4nl[qs[j] & 0xF]);
      y[j + QK4_NL / 2] = d * static_cast<float>(kValuesIq4nl[qs[j] >> 4]);
    }
    y += QK4_NL;
  }
}

void dequantize_row_iq4_xs(const BlockIq4Xs* x, float* y, int64_t n) {
  const int64_t nb = n / QK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* qs = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j + 0] = dl * static_cast<float>(kValuesIq4nl[qs[j] & 0xF]);
        y[j + 16] = dl * static_cast<float>(kValuesIq4nl[qs[j] >> 4]);
      }
      y += 32;
      qs += 16;
    }
  }
}

void quantize_row_iq4_nl(const float* x, BlockIq4Nl* y, int64_t n) {
  const int64_t nb = n / QK4_NL;
  uint8_t L[QK4_NL];
  float scale;
  uint16_t unused_h;
  for (int64_t i = 0; i < nb; ++i) {
    quantize_iq4_superblock(QK4_NL, x + QK4_NL * i, &y[i].d, y[i].qs, &unused_h, nullptr, &scale, L);
  }
}

void quantize_row_iq4_xs(const float* x, BlockIq4Xs* y, int64_t n) {
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < nb; ++i) {
    quantize_iq4_superblock(QK_K, x + QK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, scales, L);
  }
}

void quantize_row_iq4_nl_w(const float* x, BlockIq4Nl* y, int64_t n_per_row, const float* qw) {
  uint8_t L[QK4_NL];
  float scale;
  uint16_t unused_h;
  for (int64_t i = 0; i < n_per_row / QK4_NL; ++i) {
    quantize_iq4_superblock(QK4_NL, x + QK4_NL * i, &y[i].d, y[i].qs, &unused_h, nullptr, &scale, L, qw + QK4_NL * i);
  }
}

void quantize_row_iq4_xs_w(const float* x, BlockIq4Xs* y, int64_t n_per_row, const float* qw) {
  uint8_t L[QK_K];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    quantize_iq4_superblock(QK_K, x + QK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, scales, L, qw + QK_K * i);
  }
}

}  // namespace petrel::ref
