// conv1d_silu: the causal depthwise conv + SiLU of the Gated DeltaNet layers, with the rolling
// state of the last kernel-1 inputs per channel ([kernel-1][channels], oldest first).
// As ggml_ssm_conv: the sum runs over taps oldest first in float, then silu(x) = x / (1 + e^-x)
// (CpuKernels::gate_mul_f32 over the task's channels of the row).
// Channels are independent, so tasks are channel ranges, walked token by token so the x and y
// rows are read and written contiguously. y must not alias x (earlier inputs are re-read).
#include <algorithm>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {

void op_conv1d_silu(OpContext& ctx, const float* x, const float* weights, float* state, int64_t n_tokens,
                    int64_t channels, int64_t kernel, float* y) {
  if (n_tokens <= 0 || channels <= 0) return;
  if (kernel <= 0) {
    fill_nan(y, n_tokens * channels);
    return;
  }
  const int64_t hist = kernel - 1;
  const CpuKernels& k = ctx.kernels;
  // Taps transposed to [kernel][channels], so the inner loop runs over contiguous channels of
  // both the inputs and the taps (it vectorises); the sum order per channel is unchanged.
  float* taps = ctx.scratch.shared_buffer(static_cast<size_t>(kernel * channels));
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < kernel; ++i) taps[i * channels + c] = weights[c * kernel + i];
  }
  // Input row r of concat(state, x): r < hist is a state row, else token r - hist.
  auto input_row = [&](int64_t r) { return r < hist ? state + r * channels : x + (r - hist) * channels; };
  ctx.pool.parallel_for(channels, std::max<int64_t>(64, grain_for(ctx.pool, channels, n_tokens * kernel)), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      float* yt = y + t * channels;
      for (int64_t c = begin; c < end; ++c) yt[c] = 0.0f;
      for (int64_t i = 0; i < kernel; ++i) {
        const float* in = input_row(t + i);
        const float* w = taps + i * channels;
        for (int64_t c = begin; c < end; ++c) yt[c] += in[c] * w[c];
      }
      k.gate_mul_f32(GateActivation::silu, yt + begin, nullptr, end - begin, yt + begin);
    }
    // New state row s = input row n_tokens + s. Ascending s only ever reads state rows above
    // the ones already overwritten (n_tokens + s > s), so the update can be in place.
    for (int64_t s = 0; s < hist; ++s) {
      const float* src = input_row(n_tokens + s);
      float* dst = state + s * channels;
      for (int64_t c = begin; c < end; ++c) dst[c] = src[c];
    }
  });
}

}  // namespace petrel::cpu
