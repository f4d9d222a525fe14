// Reference quantizers of the K-quants (Q2_K .. Q6_K) and Q8_K, bit-identical to ggml's
// quantize_row_*_ref (what ggml_quantize_chunk runs without an imatrix, i.e. what llama-quantize
// writes for a plain Q4_K_M). The scale searches (make_qkx2_quants, make_q3_quants,
// make_qx_quants) are iterative and compare float sums, so every expression keeps ggml's order of
// operations and int -> float conversion points; nearest_int is ggml's 1.5 * 2^23 rounding trick.
#include "quant/ref/strict_fp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ref/quantize_common.h"
#include "quant/ref/ref.h"

namespace petrel::ref {
namespace {

// 4-lane float / int vectors (GCC/Clang vector extensions: SSE2 on x86-64, NEON on arm64; plain
// IEEE single operations per lane).
typedef float Vec4f __attribute__((vector_size(16)));
typedef int32_t Vec4i __attribute__((vector_size(16)));

// nearest_int of each lane (the same 1.5 * 2^23 trick), clamped to [lo, hi], as floats.
inline Vec4f clamp_nearest(Vec4f v, Vec4i lo, Vec4i hi) {
  const Vec4f biased = v + 12582912.0f;
  Vec4i i;
  std::memcpy(&i, &biased, sizeof i);
  i = (i & 0x007FFFFF) - 0x00400000;
  i = i < lo ? lo : i;
  i = i > hi ? hi : i;
  return __builtin_convertvector(i, Vec4f);
}

// ggml's make_qx_quants with rmse_type = 1 and no weights (w = x^2): a symmetric scale for values
// in [-nmax, nmax-1], refined over 18 nearby trial scales. L gets l + nmax.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
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
    const float w = x[i] * x[i];
    sumlx += w * x[i] * fl(l);
    suml2 += w * fl(l) * fl(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  // The 18 trial scales are independent until the comparison, so their sums run side by side in
  // 4-lane vectors (each lane adds its terms in ggml's order, with the same roundings); the
  // comparisons then go through the trials in ggml's order. Same bits, faster (docs/PERFORMANCE.md#quantization).
  constexpr int kTrials = 18, kVecs = (kTrials + 3) / 4;
  alignas(16) float iscales[kVecs * 4] = {};
  for (int t = 0, is = -9; is <= 9; ++is) {
    if (is != 0) iscales[t++] = -(fl(nmax) + 0.1f * fl(is)) / max;
  }
  Vec4f vscale[kVecs], vlx[kVecs], vl2[kVecs];
  for (int v = 0; v < kVecs; ++v) {
    std::memcpy(&vscale[v], iscales + 4 * v, sizeof(Vec4f));
    vlx[v] = Vec4f{};
    vl2[v] = Vec4f{};
  }
  const Vec4i lo = Vec4i{} - nmax, hi = Vec4i{} + (nmax - 1);
  for (int i = 0; i < n; ++i) {
    const float w = x[i] * x[i];
    const float wx = w * x[i];
    for (int v = 0; v < kVecs; ++v) {
      const Vec4f l = clamp_nearest(vscale[v] * x[i], lo, hi);
      vlx[v] += wx * l;
      vl2[v] += (w * l) * l;
    }
  }
  int best_trial = -1;
  for (int t = 0; t < kTrials; ++t) {
    const float lx = vlx[t / 4][t % 4], l2 = vl2[t / 4][t % 4];
    if (l2 > 0 && lx * lx > best * l2) {
      best_trial = t;
      scale = lx / l2;
      best = scale * lx;
    }
  }
  if (best_trial >= 0) {
    for (int i = 0; i < n; ++i) {
      const int l = nearest_int(iscales[best_trial] * x[i]);
      L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
    }
  }
  return scale;
}

// ggml's make_q3_quants with do_rmse = true: a symmetric scale, then up to 5 passes of
// coordinate descent on the x^2-weighted error. L gets l + nmax (0 for an all-zero group).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
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
  const float iscale = fl(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * fl(l);
    suml2 += w * fl(l) * fl(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * fl(L[i]);
      if (slx > 0) {
        float sl2 = suml2 - w * fl(L[i]) * fl(L[i]);
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * fl(new_l);
          sl2 += w * fl(new_l) * fl(new_l);
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ggml's make_qkx2_quants: an asymmetric scale + min for values in [0, nmax], chosen by weighted
// least squares over nstep+1 trial scales. Returns the scale; *the_min gets -min (>= 0).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, float rmin,
                       float rdelta, int nstep, bool use_mad) {
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
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = fl(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * fl(L[i]) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  // Trials are independent except through `min`, which a winning trial replaces (ggml: later
  // trials then use the new min). So the remaining trials' sums and errors run side by side in
  // 4-lane vectors (each lane with ggml's order of operations and roundings) and are compared in
  // ggml's order; after a win the trials after it are computed again with the new min.
  constexpr int kMaxTrials = 32;
  const int trials = std::min(nstep + 1, kMaxTrials);
  const Vec4i lo = Vec4i{}, hi = Vec4i{} + nmax;
  for (int first = 0; first < trials;) {
    const int count = trials - first;
    const int vecs = (count + 3) / 4;
    alignas(16) float iscales[kMaxTrials] = {};
    for (int t = 0; t < count; ++t) iscales[t] = (rmin + rdelta * fl(first + t) + fl(nmax)) / (max - min);
    Vec4f vscale[kMaxTrials / 4], vl[kMaxTrials / 4], vl2[kMaxTrials / 4], vxl[kMaxTrials / 4];
    for (int v = 0; v < vecs; ++v) {
      std::memcpy(&vscale[v], iscales + 4 * v, sizeof(Vec4f));
      vl[v] = vl2[v] = vxl[v] = Vec4f{};
    }
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      const float xm = x[i] - min;
      for (int v = 0; v < vecs; ++v) {
        const Vec4f l = clamp_nearest(vscale[v] * xm, lo, hi);
        const Vec4f wl = w * l;
        vl[v] += wl;
        vl2[v] += wl * l;
        vxl[v] += wl * x[i];
      }
    }
    Vec4f vD[kMaxTrials / 4], vs[kMaxTrials / 4], vm[kMaxTrials / 4], verr[kMaxTrials / 4];
    for (int v = 0; v < vecs; ++v) {
      vD[v] = sum_w * vl2[v] - vl[v] * vl[v];
      const Vec4f scale_ls = (sum_w * vxl[v] - sum_x * vl[v]) / vD[v];
      const Vec4f min_ls = (vl2[v] * sum_x - vl[v] * vxl[v]) / vD[v];
      const Vec4f scale_0 = vxl[v] / vl2[v];  // the fit with the min pinned to 0
      const auto positive = min_ls > 0.0f;
      vs[v] = positive ? scale_0 : scale_ls;
      vm[v] = positive ? Vec4f{} : min_ls;
      verr[v] = Vec4f{};
    }
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      const float xm = x[i] - min;
      for (int v = 0; v < vecs; ++v) {
        const Vec4f l = clamp_nearest(vscale[v] * xm, lo, hi);
        Vec4f diff = vs[v] * l + vm[v] - x[i];
        if (use_mad) {
          Vec4i bits;
          std::memcpy(&bits, &diff, sizeof bits);
          bits &= 0x7FFFFFFF;
          std::memcpy(&diff, &bits, sizeof diff);
        } else {
          diff = diff * diff;
        }
        verr[v] += w * diff;
      }
    }
    int winner = -1;
    for (int t = 0; t < count; ++t) {
      if (vD[t / 4][t % 4] > 0 && verr[t / 4][t % 4] < best_error) {
        winner = t;
        break;
      }
    }
    if (winner < 0) break;
    for (int i = 0; i < n; ++i) {  // the winner's levels, with the min it was computed with
      const int l = nearest_int(iscales[winner] * (x[i] - min));
      L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
    best_error = verr[winner / 4][winner % 4];
    scale = vs[winner / 4][winner % 4];
    min = vm[winner / 4][winner % 4];
    first += winner + 1;
  }
  *the_min = -min;
  return scale;
}

// Q4_K / Q5_K: 8 sub-blocks of 32, per-sub-block asymmetric scales quantized to 6 bits.
// Fills y's d, dmin, scales and returns the final 0..nmax levels in L.
template <typename Block>
void quantize_scales_mins_k4(const float* x, Block* y, uint8_t* L, int nmax, float rmin, int nstep) {
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < QK_K / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < QK_K / 32; ++j) {
    const uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
    const uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    set_scale_min_k4(j, std::min<uint8_t>(63, ls), std::min<uint8_t>(63, lm), y->scales);
  }
  y->d = fp32_to_fp16(max_scale / 63.f);
  y->dmin = fp32_to_fp16(max_min / 63.f);
  levels_k4(x, *y, nmax, L);
}

}  // namespace

void quantize_row_q2_K(const float* x, BlockQ2_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K];
  float weights[16];
  float mins[QK_K / 16];
  float scales[QK_K / 16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < nb; ++i) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      y[i].d = fp32_to_fp16(max_scale / q4scale);
    } else {
      for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
      y[i].d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < QK_K / 16; ++j) {
        const int l = nearest_int(iscale * mins[j]);
        y[i].scales[j] |= static_cast<uint8_t>(static_cast<uint32_t>(l) << 4);
      }
      y[i].dmin = fp32_to_fp16(max_min / q4scale);
    } else {
      y[i].dmin = fp32_to_fp16(0.f);
    }
    finish_q2_K(x, L, &y[i]);
    x += QK_K;
  }
}

void quantize_row_q3_K(const float* x, BlockQ3_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < nb; ++i) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < QK_K / 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < QK_K / 16; ++j) {
        const int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
        set_scale_q3_K(j, std::max(-32, std::min(31, static_cast<int>(l))) + 32, y[i].scales);
      }
      y[i].d = fp32_to_fp16(1 / iscale);
    } else {
      y[i].d = fp32_to_fp16(0.f);
    }
    finish_q3_K(x, L, &y[i]);
    x += QK_K;
  }
}

void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; ++i) {
    quantize_scales_mins_k4(x, &y[i], L, 15, -1.f, 20);
    pack_q4_K(L, y[i].qs);
    x += QK_K;
  }
}

void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; ++i) {
    quantize_scales_mins_k4(x, &y[i], L, 31, -0.5f, 15);
    pack_q5_K(L, y[i].qh, y[i].qs);
    x += QK_K;
  }
}

void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < nb; ++i) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      x += QK_K;
      continue;
    }
    finish_q6_K(x, scales, max_scale, L, &y[i]);
    x += QK_K;
  }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  const int64_t nb = n / QK_K;
  for (int64_t i = 0; i < nb; ++i) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      // ggml leaves bsums as they were here; petrel zeroes them so the output is deterministic.
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      x += QK_K;
      continue;
    }
    // -127 rather than -128 keeps every quant in [-127, 127] (ggml: for the AVX IQ2 kernels).
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < QK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
    x += QK_K;
  }
}

}  // namespace petrel::ref
