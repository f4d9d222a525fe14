#version 450
// The MoE combine (Backend::moe_experts' last step): per token t and column c,
//   out[t][c] = sum over t's k slots, in ascending expert id, of weights[t][i] * down[t][i][c]
//             (+ sigmoid(shared_gate[t]) * shared[t][c] when has_shared)
// The slots are added in expert order, as the CPU backend adds them, so the sum is rounded the
// same way wherever the experts ran.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Down { float down[]; };     // [n][k][n_embd]
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };         // [n][k]
layout(std430, binding = 2) readonly buffer Weights { float wts[]; };   // [n][k]
layout(std430, binding = 3) readonly buffer Shared { float shared_out[]; };  // [n][n_embd]
layout(std430, binding = 4) readonly buffer Gate { float shared_gate[]; };   // [n]
layout(std430, binding = 5) buffer Out { float out_[]; };               // [n][n_embd]

layout(push_constant) uniform Params {
  uint n_tokens, k, n_embd, has_shared;
  uint down_offset, ids_offset, w_offset, shared_offset, gate_offset, out_offset;  // in words
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n_tokens * p.n_embd) return;
  const uint t = i / p.n_embd;
  const uint c = i % p.n_embd;
  float acc = 0.0;
  // Slots in ascending expert id (ties keep slot order): pick the next smallest each time; k <= 32.
  int last_id = -2147483647 - 1;
  uint last_slot = 0;
  bool started = false;
  for (uint j = 0; j < p.k; ++j) {
    int best_id = 2147483647;
    uint best = p.k;
    for (uint s = 0; s < p.k; ++s) {
      const int id = ids[p.ids_offset + t * p.k + s];
      const bool after = !started || id > last_id || (id == last_id && s > last_slot);
      if (after && (best == p.k || id < best_id)) {
        best_id = id;
        best = s;
      }
    }
    last_id = best_id;
    last_slot = best;
    started = true;
    acc += wts[p.w_offset + t * p.k + best] * down[p.down_offset + (t * p.k + best) * p.n_embd + c];
  }
  if (p.has_shared != 0) {
    const float g = 1.0 / (1.0 + exp(-shared_gate[p.gate_offset + t]));
    acc += g * shared_out[p.shared_offset + t * p.n_embd + c];
  }
  out_[p.out_offset + i] = acc;
}
