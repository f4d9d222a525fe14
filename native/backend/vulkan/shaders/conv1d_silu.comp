#version 450
// Causal depthwise conv (kernel K) + SiLU with a rolling state of the last K-1 inputs per
// channel, as Backend::conv1d_silu. Input row r of concat(state, x) is state row r for r < K-1,
// else token r - (K-1); y[t][c] = silu(sum_i w[c][i] * in[t + i][c]), taps oldest first.
// One invocation per (channel, block of tokens_per_inv tokens): neighbouring invocations take
// neighbouring channels, so every row is read and written contiguously.
//   mode 0: y only (the state is read, not written)
//   mode 1: y, then the new state (one block covers all tokens: the invocation has read the old
//           state rows it needs before it overwrites them)
//   mode 2: the new state only (after a mode-0 dispatch with several blocks, whose invocations
//           all read the old state)
// New state row s is input row n_tokens + s; ascending s only reads rows at or above the ones
// already written, so the update is in place.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) buffer S { float state[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n_tokens, channels, kernel, tokens_per_inv, n_blocks;
  uint x_offset, w_offset, s_offset, y_offset;  // in floats
  uint mode;
} p;

float input_at(uint r, uint c) {
  const uint hist = p.kernel - 1;
  return r < hist ? state[p.s_offset + r * p.channels + c] : x[p.x_offset + (r - hist) * p.channels + c];
}

void main() {
  const uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (id >= p.channels * p.n_blocks) return;
  const uint c = id % p.channels;
  if (p.mode != 2) {
    const uint t0 = (id / p.channels) * p.tokens_per_inv;
    const uint t1 = min(p.n_tokens, t0 + p.tokens_per_inv);
    for (uint t = t0; t < t1; ++t) {
      float sum = 0.0;
      for (uint i = 0; i < p.kernel; ++i) sum += input_at(t + i, c) * w[p.w_offset + c * p.kernel + i];
      y[p.y_offset + t * p.channels + c] = sum / (1.0 + exp(-sum));
    }
  }
  if (p.mode != 0) {
    for (uint s = 0; s + 1 < p.kernel; ++s) state[p.s_offset + s * p.channels + c] = input_at(p.n_tokens + s, c);
  }
}
