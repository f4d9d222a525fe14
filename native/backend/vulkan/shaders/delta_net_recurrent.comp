#version 450
// The gated delta rule token by token (docs/MODEL.md#delta-rule), as Backend::delta_net: one
// workgroup per (value head, block of BC state columns). The workgroup's part of the state
// (DK rows x BC columns of [Hv][DK][dv]) is read into registers once, carried through every
// token of the batch, and written back once; so a decode step reads and writes the state once.
// Thread (lane, col) holds rows lane, lane + R, ... of column col (R = WG / BC lanes per column),
// so neighbouring threads touch neighbouring columns of a state row.
//
// Per token: q and k of the value head's key head are l2-normalised here (every workgroup of
// the key head does it again: a DK-long reduction, small beside the state's DK x BC), then the
// fused step of the CPU backend's delta_step_f32, with alpha = e^g:
//   sk = S^T k, sq = S^T q (columns reduced over the R lanes in shared memory)
//   delta = beta (v - alpha sk);  out = alpha sq + delta (k . q);  S = alpha S + k delta^T
// All reductions go through shared memory, so the shader assumes no subgroup size.
layout(constant_id = 0) const uint WG = 128;  // a power of two, a multiple of BC
layout(constant_id = 1) const uint DK = 128;  // key dims (rows of a head's state)
layout(constant_id = 2) const uint BC = 32;   // state columns per workgroup
layout(local_size_x_id = 0) in;
const uint R = WG / BC;
const uint ROWS = (DK + R - 1) / R;  // state values per thread

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer G { float g[]; };
layout(std430, binding = 4) readonly buffer B { float beta[]; };
layout(std430, binding = 5) buffer S { float state[]; };
layout(std430, binding = 6) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_k_heads, n_v_heads, dv;
  uint grouped;  // 1: value head p reads key head p / (Hv / Hk); 0: p % Hk
  float eps, q_scale;
  uint q_offset, k_offset, v_offset, g_offset, b_offset, s_offset, o_offset;  // in floats
  // Floats between heads and between tokens of q, k and v: they may be columns of the conv
  // output rather than packed.
  uint q_head_stride, q_token_stride, k_head_stride, k_token_stride, v_head_stride, v_token_stride;
} p;

shared float qs[DK];
shared float ks[DK];
shared float red[3][WG];
shared float part_k[R][BC];
shared float part_q[R][BC];
shared float delta_s[BC];

void main() {
  const uint n_col_blocks = (p.dv + BC - 1) / BC;
  const uint head = gl_WorkGroupID.x / n_col_blocks;
  const uint tid = gl_LocalInvocationID.x;
  const uint col = tid % BC, lane = tid / BC;
  const uint j = (gl_WorkGroupID.x % n_col_blocks) * BC + col;
  const bool has_col = j < p.dv;
  const uint kh = p.grouped != 0 ? head / (p.n_v_heads / p.n_k_heads) : head % p.n_k_heads;
  const uint s_base = p.s_offset + head * DK * p.dv + j;

  float s[ROWS];
  for (uint m = 0; m < ROWS; ++m) {
    const uint i = lane + R * m;
    s[m] = has_col && i < DK ? state[s_base + i * p.dv] : 0.0;
  }

  for (uint t = 0; t < p.n_tokens; ++t) {
    // q, k of the key head, and their squares and product summed over the workgroup.
    const uint q_base = p.q_offset + t * p.q_token_stride + kh * p.q_head_stride;
    const uint k_base = p.k_offset + t * p.k_token_stride + kh * p.k_head_stride;
    float sq = 0.0, sk = 0.0, skq = 0.0;
    for (uint i = tid; i < DK; i += WG) {
      const float qv = q[q_base + i], kv = k[k_base + i];
      qs[i] = qv;
      ks[i] = kv;
      sq += qv * qv;
      sk += kv * kv;
      skq += kv * qv;
    }
    red[0][tid] = sq;
    red[1][tid] = sk;
    red[2][tid] = skq;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
      if (tid < h) {
        red[0][tid] += red[0][tid + h];
        red[1][tid] += red[1][tid + h];
        red[2][tid] += red[2][tid + h];
      }
      barrier();
    }
    // x / max(||x||, eps), as ggml_l2_norm; q then times 1/sqrt(DK).
    const float q_norm = 1.0 / max(sqrt(red[0][0]), p.eps);
    const float k_norm = 1.0 / max(sqrt(red[1][0]), p.eps);
    const float kq = red[2][0] * k_norm * q_norm * p.q_scale;

    float acc_k = 0.0, acc_q = 0.0;
    for (uint m = 0; m < ROWS; ++m) {
      const uint i = lane + R * m;
      if (i < DK) {
        acc_k += s[m] * ks[i];
        acc_q += s[m] * qs[i];
      }
    }
    part_k[lane][col] = acc_k * k_norm;
    part_q[lane][col] = acc_q * q_norm * p.q_scale;
    barrier();
    const uint vh = t * p.n_v_heads + head;
    const float alpha = exp(g[p.g_offset + vh]);
    if (lane == 0) {
      float mk = 0.0, mq = 0.0;
      for (uint l = 0; l < R; ++l) {
        mk += part_k[l][col];
        mq += part_q[l][col];
      }
      float d = 0.0;
      if (has_col) {
        d = beta[p.b_offset + vh] * (v[p.v_offset + t * p.v_token_stride + head * p.v_head_stride + j] - alpha * mk);
        o[p.o_offset + vh * p.dv + j] = alpha * mq + d * kq;
      }
      delta_s[col] = d;
    }
    barrier();
    const float d = delta_s[col];
    for (uint m = 0; m < ROWS; ++m) {
      const uint i = lane + R * m;
      if (i < DK) s[m] = alpha * s[m] + ks[i] * k_norm * d;
    }
    barrier();  // qs, ks, red and delta_s are rewritten by the next token
  }

  for (uint m = 0; m < ROWS; ++m) {
    const uint i = lane + R * m;
    if (has_col && i < DK) state[s_base + i * p.dv] = s[m];
  }
}
