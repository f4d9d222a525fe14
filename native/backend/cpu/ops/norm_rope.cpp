// rms_norm and rope_neox, computed the way ggml's CPU backend does so logits can be compared
// with llama.cpp at float precision:
//  * rms_norm: squares in float, summed in double; mean and scale in float; y = (x * scale) * w.
//    Rows may be strided (attention normalises each head's q straight out of the interleaved
//    [q_h | gate_h] projection).
//  * rope_neox: theta_scale = powf(base, -2/n_rot); the angle of pair i is built by repeated
//    float multiplication (theta *= theta_scale, starting at theta = pos), as ggml_rope_cache_init
//    does; cos/sin in float. Dims n_rot..head_dim-1 pass through.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {

void op_rms_norm(OpContext& ctx, const Tensor& x, const float* w, float eps, const Tensor& y) {
  const int64_t n = x.ne[0];
  const int64_t n_rows = x.n_rows();
  if (n <= 0 || n_rows <= 0) return;
  ctx.pool.parallel_for(n_rows, grain_for(ctx.pool, n_rows, 2 * n), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = reinterpret_cast<const float*>(host_row(x, r));
      float* yr = reinterpret_cast<float*>(host_row(y, r));
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
      const float mean = static_cast<float>(sum / static_cast<double>(n));
      const float scale = 1.0f / std::sqrt(mean + eps);
      // Reads of xr[i] precede the write of yr[i], so y may alias x.
      if (w != nullptr) {
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
      } else {
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale;
      }
    }
  });
}

void op_rope_neox(OpContext& ctx, float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                  const int32_t* positions, float freq_base) {
  if (n_tokens <= 0 || n_heads <= 0 || n_rot == 0) return;
  if (n_rot < 0 || n_rot % 2 != 0 || n_rot > head_dim) {
    fill_nan(x, n_tokens * n_heads * head_dim);
    return;
  }
  const int64_t half = n_rot / 2;
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  Scratch& scratch = ctx.scratch;
  ctx.pool.parallel_for(n_tokens, grain_for(ctx.pool, n_tokens, n_heads * n_rot * 2 + n_rot * 8), [&](int64_t begin, int64_t end, int tid) {
    float* cs = scratch.thread_buffer(tid, static_cast<size_t>(n_rot));  // cos, sin per pair
    for (int64_t t = begin; t < end; ++t) {
      float theta = static_cast<float>(positions[t]);
      for (int64_t i = 0; i < half; ++i) {
        cs[2 * i] = std::cos(theta);
        cs[2 * i + 1] = std::sin(theta);
        theta *= theta_scale;
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        float* xh = x + (t * n_heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float c = cs[2 * i], s = cs[2 * i + 1];
          const float x0 = xh[i], x1 = xh[i + half];
          xh[i] = x0 * c - x1 * s;
          xh[i + half] = x0 * s + x1 * c;
        }
      }
    }
  });
}

}  // namespace petrel::cpu
