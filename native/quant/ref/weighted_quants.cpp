// Importance-weighted quantizers (see weighted.h), bit-identical to ggml's quantize_row_*_impl with
// quant weights. Each value's weight is qw[j] * sqrt(sigma2 + x[j]^2), sigma2 a mean square over the
// row (legacy types) or the super-block (K-quants). The scale searches (make_qx_quants,
// make_qkx3_quants, make_qp_quants) compare float sums, so every expression keeps ggml's order of
// operations and its int -> float conversion points.
#include "quant/ref/strict_fp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ref/quantize_common.h"
#include "quant/ref/ref.h"
#include "quant/ref/weighted.h"

namespace petrel::ref {
namespace {

// ggml's make_qx_quants with rmse_type 1 and weights qw: symmetric levels in [-nmax, nmax-1],
// refined over 18 trial scales. L gets l + nmax.
float make_qx_quants_w(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = fl(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = qw[i];
    sumlx += w * x[i] * fl(l);
    suml2 += w * fl(l) * fl(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fl(nmax) + 0.1f * fl(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = qw[i];
      sumlx += w * x[i] * fl(l);
      suml2 += w * fl(l) * fl(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// ggml's make_qkx3_quants (weights given): asymmetric scale + min for levels in [0, nmax] by
// weighted least squares over nstep+1 trial scales. *the_min gets -min.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *the_min = -min;
    return 0.f;
  }
  float iscale = fl(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * fl(L[i]) + min - x[i];
    diff = diff * diff;
    best_mad += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * fl(is) + fl(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * fl(l);
      sum_l2 += w * fl(l) * fl(l);
      sum_xl += w * fl(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * fl(Laux[i]) + this_min - x[i];
        diff = diff * diff;
        mad += weights[i] * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// ggml's make_qp_quants: levels in [0, nmax] for non-negative values (the sub-block scales and
// mins of the K-quants), weighted by the sub-blocks' total importance.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = fl(nmax) / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * fl(L[i]);
    best_mse += quant_weights[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * fl(is) + fl(nmax)) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale_is * x[i]);
      l = std::min(nmax, l);
      const float diff = x[i] - scale_is * fl(l);
      mse += quant_weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::min(nmax, l);
    L[i] = static_cast<uint8_t>(l);
    const float w = quant_weights[i];
    sumlx += w * x[i] * fl(l);
    suml2 += w * fl(l) * fl(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = quant_weights[i];
      float slx = sumlx - w * x[i] * fl(L[i]);
      float sl2 = suml2 - w * fl(L[i]) * fl(L[i]);
      if (slx > 0 && sl2 > 0) {
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::min(nmax, new_l);
        if (new_l != L[i]) {
          slx += w * x[i] * fl(new_l);
          sl2 += w * fl(new_l) * fl(new_l);
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Mean square of the row: the legacy types weight by sqrt(sigma2 + x^2) with this sigma2.
float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

// Packs 5-bit levels into the Q5_0 / Q5_1 nibbles + high-bit word.
template <typename Block>
void pack_q5(const uint8_t* L, Block* y) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t xi0 = L[j];
    const uint8_t xi1 = L[j + 16];
    y->qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
    qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
    qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(&y->qh, &qh, sizeof qh);
}

// Q4_K / Q5_K: the scales and mins (8 sub-blocks of 32) from make_qkx3_quants, then 6-bit codes
// for them from make_qp_quants; fills d, dmin, scales and the final levels in L.
template <typename Block>
void weighted_scales_mins_k4(const float* x, const float* qw, Block* y, uint8_t* L, int nmax) {
  uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
  float weights[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
  float sum_x2 = 0;
  for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / QK_K;
  for (int j = 0; j < QK_K / 32; ++j) {
    const float* q = qw + 32 * j;
    for (int l = 0; l < 32; ++l) weights[l] = q[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
  }
  const float d_block = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
  const float m_block = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
  for (int j = 0; j < QK_K / 32; ++j) set_scale_min_k4(j, std::min<uint8_t>(63, Ls[j]), std::min<uint8_t>(63, Lm[j]), y->scales);
  y->d = fp32_to_fp16(d_block);
  y->dmin = fp32_to_fp16(m_block);
  levels_k4(x, *y, nmax, L);
}

}  // namespace

// ---- legacy 32-value blocks ----

void quantize_row_q4_0_w(const float* x, BlockQ4_0* y, int64_t n_per_row, const float* qw) {
  float weight[QK4_0];
  int8_t L[QK4_0];
  const float sigma2 = row_sigma2(x, n_per_row);
  for (int64_t ib = 0; ib < n_per_row / QK4_0; ++ib) {
    const float* xb = x + QK4_0 * ib;
    const float* q = qw + QK4_0 * ib;
    for (int j = 0; j < QK4_0; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants_w(QK4_0, 8, xb, L, weight);
    y[ib].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void quantize_row_q4_1_w(const float* x, BlockQ4_1* y, int64_t n_per_row, const float* qw) {
  float weight[QK4_1];
  uint8_t L[QK4_1], Laux[QK4_1];
  const float sigma2 = row_sigma2(x, n_per_row);
  for (int64_t ib = 0; ib < n_per_row / QK4_1; ++ib) {
    const float* xb = x + QK4_1 * ib;
    const float* q = qw + QK4_1 * ib;
    for (int j = 0; j < QK4_1; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(QK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36);
    y[ib].d = fp32_to_fp16(d);
    y[ib].m = fp32_to_fp16(-min);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void quantize_row_q5_0_w(const float* x, BlockQ5_0* y, int64_t n_per_row, const float* qw) {
  float weight[QK5_0];
  int8_t L[QK5_0];
  const float sigma2 = row_sigma2(x, n_per_row);
  for (int64_t ib = 0; ib < n_per_row / QK5_0; ++ib) {
    const float* xb = x + QK5_0 * ib;
    const float* q = qw + QK5_0 * ib;
    for (int j = 0; j < QK5_0; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants_w(QK5_0, 16, xb, L, weight);
    y[ib].d = fp32_to_fp16(d);
    pack_q5(reinterpret_cast<const uint8_t*>(L), &y[ib]);
  }
}

void quantize_row_q5_1_w(const float* x, BlockQ5_1* y, int64_t n_per_row, const float* qw) {
  float weight[QK5_1];
  uint8_t L[QK5_1], Laux[QK5_1];
  const float sigma2 = row_sigma2(x, n_per_row);
  for (int64_t ib = 0; ib < n_per_row / QK5_1; ++ib) {
    const float* xb = x + QK5_1 * ib;
    const float* q = qw + QK5_1 * ib;
    for (int j = 0; j < QK5_1; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(QK5_1, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36);
    y[ib].d = fp32_to_fp16(d);
    y[ib].m = fp32_to_fp16(-min);
    pack_q5(L, &y[ib]);
  }
}

// ---- K-quants ----

void quantize_row_q2_K_w(const float* x, BlockQ2_K* y, int64_t n_per_row, const float* qw) {
  uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
  float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[16];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    std::memset(sw, 0, sizeof sw);
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
      const float* q = qw + QK_K * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      for (int l = 0; l < QK_K / 16; ++l) sw[j] += weight[l];
      scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
    }
    y[i].d = fp32_to_fp16(make_qp_quants(QK_K / 16, 15, scales, Ls, sw));
    y[i].dmin = fp32_to_fp16(make_qp_quants(QK_K / 16, 15, mins, Lm, sw));
    for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
    finish_q2_K(x, L, &y[i]);
    x += QK_K;
  }
}

void quantize_row_q3_K_w(const float* x, BlockQ3_K* y, int64_t n_per_row, const float* qw) {
  int8_t L[QK_K], Ls[QK_K / 16];
  float scales[QK_K / 16], weight[16], sw[QK_K / 16];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    float sumx2 = 0;
    for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / QK_K;
    for (int j = 0; j < QK_K / 16; ++j) {
      const float* q = qw + QK_K * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 16; ++l) sumw += weight[l];
      sw[j] = sumw;
      scales[j] = make_qx_quants_w(16, 4, x + 16 * j, L + 16 * j, weight);
    }
    std::memset(y[i].scales, 0, 12);
    const float d_block = make_qx_quants_w(QK_K / 16, 32, scales, Ls, sw);
    for (int j = 0; j < QK_K / 16; ++j) set_scale_q3_K(j, Ls[j], y[i].scales);
    y[i].d = fp32_to_fp16(d_block);
    finish_q3_K(x, L, &y[i]);
    x += QK_K;
  }
}

void quantize_row_q4_K_w(const float* x, BlockQ4_K* y, int64_t n_per_row, const float* qw) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    weighted_scales_mins_k4(x, qw + QK_K * i, &y[i], L, 15);
    pack_q4_K(L, y[i].qs);
    x += QK_K;
  }
}

void quantize_row_q5_K_w(const float* x, BlockQ5_K* y, int64_t n_per_row, const float* qw) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    weighted_scales_mins_k4(x, qw + QK_K * i, &y[i], L, 31);
    pack_q5_K(L, y[i].qh, y[i].qs);
    x += QK_K;
  }
}

void quantize_row_q6_K_w(const float* x, BlockQ6_K* y, int64_t n_per_row, const float* qw) {
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < n_per_row / QK_K; ++i) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      // ggml passes the importances themselves as weights here (no sigma2 term).
      const float scale = make_qx_quants_w(16, 32, x + 16 * ib, L + 16 * ib, qw + QK_K * i + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      y[i].d = fp32_to_fp16(0.f);
      x += QK_K;
      continue;
    }
    finish_q6_K(x, scales, max_scale, L, &y[i]);
    x += QK_K;
  }
}

}  // namespace petrel::ref
