#version 450
// The chunked form of the gated delta rule, second pass: the state carried through the chunks in
// order (docs/MODEL.md#chunked-form). One workgroup per (value head, block of BC state columns)
// keeps its DK x BC part of the state in shared memory from the first chunk to the last (read
// and written once per call) and, per chunk, from delta_net_chunk_prep.comp's record:
//   V' = U - W S                                   (the chunk's corrections, in shared memory)
//   O  = e^gam (Q^ S) + QK V'                      (the chunk's outputs)
//   S  = e^gam_last S + sum_j e^(gam_last - gam_j) k^_j V'_j^T
// Thread (lane, col) works on column col and rows lane, lane + R, ... (R = WG / BC) of each
// product, so neighbouring threads read neighbouring columns.
layout(constant_id = 0) const uint WG = 128;  // a multiple of BC
layout(constant_id = 1) const uint DK = 128;
layout(constant_id = 2) const uint BC = 32;
layout(local_size_x_id = 0) in;
const uint C = 64;
const uint R = WG / BC;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer X { float scratch[]; };
layout(std430, binding = 3) buffer S { float state[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_k_heads, n_v_heads, dv;
  uint grouped;
  uint q_offset, k_offset, x_offset, s_offset, o_offset;  // in floats
  uint q_head_stride, q_token_stride, k_head_stride, k_token_stride;
} p;

shared float st[DK][BC];
shared float vp[C][BC];
shared float eg[C];   // e^gam_i
shared float nq[C];
shared float dk_s[C]; // e^(gam_last - gam_i) nk_i: the state update's factor per row of K

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint n_col_blocks = (p.dv + BC - 1) / BC;
  const uint head = gl_WorkGroupID.x / n_col_blocks;
  const uint j0 = (gl_WorkGroupID.x % n_col_blocks) * BC;
  const uint col = tid % BC, lane = tid / BC;
  const uint j = j0 + col;
  const bool has_col = j < p.dv;
  const uint kh = p.grouped != 0 ? head / (p.n_v_heads / p.n_k_heads) : head % p.n_k_heads;
  const uint s_base = p.s_offset + head * DK * p.dv;

  for (uint e = tid; e < DK * BC; e += WG) {
    const uint d = e / BC, c = e % BC;
    st[d][c] = j0 + c < p.dv ? state[s_base + d * p.dv + j0 + c] : 0.0;
  }

  const uint n_chunks = (p.n_tokens + C - 1) / C;
  for (uint chunk = 0; chunk < n_chunks; ++chunk) {
    const uint c0 = chunk * C;
    const uint len = min(C, p.n_tokens - c0);
    const uint rec = p.x_offset + (chunk * p.n_v_heads + head) * (C * DK + C * p.dv + C * C + 3 * C);
    const uint w_at = rec, u_at = w_at + C * DK, qk_at = u_at + C * p.dv, gam_at = qk_at + C * C;
    const uint q_base = p.q_offset + c0 * p.q_token_stride + kh * p.q_head_stride;
    const uint k_base = p.k_offset + c0 * p.k_token_stride + kh * p.k_head_stride;
    const float gam_last = scratch[gam_at + len - 1];
    if (tid < len) {
      const float gam = scratch[gam_at + tid];
      eg[tid] = exp(gam);
      nq[tid] = scratch[gam_at + C + tid];
      dk_s[tid] = exp(gam_last - gam) * scratch[gam_at + 2 * C + tid];
    }
    barrier();  // also orders the state load / the previous chunk's update before the reads below

    for (uint i = lane; i < len; i += R) {
      float ws = 0.0;
      for (uint d = 0; d < DK; ++d) ws += scratch[w_at + i * DK + d] * st[d][col];
      vp[i][col] = has_col ? scratch[u_at + i * p.dv + j] - ws : 0.0;
    }
    barrier();

    for (uint i = lane; i < len; i += R) {
      float qs = 0.0;
      for (uint d = 0; d < DK; ++d) qs += q[q_base + i * p.q_token_stride + d] * st[d][col];
      float inner = 0.0;
      for (uint m = 0; m <= i; ++m) inner += scratch[qk_at + i * C + m] * vp[m][col];
      if (has_col) o[p.o_offset + ((c0 + i) * p.n_v_heads + head) * p.dv + j] = eg[i] * (qs * nq[i]) + inner;
    }
    barrier();  // every read of this chunk's state is done

    const float decay = exp(gam_last);
    for (uint d = lane; d < DK; d += R) {
      float upd = 0.0;
      for (uint i = 0; i < len; ++i) upd += dk_s[i] * k[k_base + i * p.k_token_stride + d] * vp[i][col];
      st[d][col] = decay * st[d][col] + upd;
    }
    barrier();  // eg, nq and dk_s are rewritten by the next chunk
  }

  for (uint e = tid; e < DK * BC; e += WG) {
    const uint d = e / BC, c = e % BC;
    if (j0 + c < p.dv) state[s_base + d * p.dv + j0 + c] = st[d][c];
  }
}
