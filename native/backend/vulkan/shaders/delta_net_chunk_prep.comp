#version 450
// The chunked form of the gated delta rule (docs/MODEL.md#chunked-form), first pass: everything
// about one chunk of C tokens of one value head that does not depend on the state, so every
// chunk runs in parallel. One workgroup per (value head, chunk) writes to its scratch record:
//   W  [C][DK]  T (beta Gamma K^)          U  [C][dv]  T (beta V)
//   QK [C][C]   (Q^ K^T) * decay, j <= i   gam [C]     cumulative log decay
//   nq [C]      1/max(|q|, eps) / sqrt(DK) nk [C]      1/max(|k|, eps)
// with A_ij = beta_i (k^_i . k^_j) e^(gam_i - gam_j) (j < i) and T = (I + A)^-1 by forward
// substitution in shared memory, row i from the rows above it. q and k stay raw in memory: the
// norms are applied as factors (delta_net_chunk_state.comp reads them the same way). The last
// chunk is shorter rather than padded, as in the CPU backend.
layout(constant_id = 0) const uint WG = 256;  // a multiple of C
layout(constant_id = 1) const uint DK = 128;
layout(local_size_x_id = 0) in;
const uint C = 64;
const uint LPR = WG / C;  // threads per token row in the norms

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer G { float g[]; };
layout(std430, binding = 4) readonly buffer B { float beta[]; };
layout(std430, binding = 5) writeonly buffer X { float scratch[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_k_heads, n_v_heads, dv;
  uint grouped;
  float eps, q_scale;
  uint q_offset, k_offset, v_offset, g_offset, b_offset, x_offset;  // in floats
  uint q_head_stride, q_token_stride, k_head_stride, k_token_stride, v_head_stride, v_token_stride;
} p;

shared float am[C][C];  // A, then T (strictly lower part; T's unit diagonal is implicit)
shared float gam[C];
shared float bet[C];
shared float nq[C];
shared float nk[C];
shared float bgk[C];    // beta e^gam nk: W's factor per row of K
shared float part_q[C][LPR];
shared float part_k[C][LPR];

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint head = gl_WorkGroupID.x % p.n_v_heads;
  const uint chunk = gl_WorkGroupID.x / p.n_v_heads;
  const uint c0 = chunk * C;
  const uint len = min(C, p.n_tokens - c0);
  const uint kh = p.grouped != 0 ? head / (p.n_v_heads / p.n_k_heads) : head % p.n_k_heads;
  const uint q_base = p.q_offset + c0 * p.q_token_stride + kh * p.q_head_stride;
  const uint k_base = p.k_offset + c0 * p.k_token_stride + kh * p.k_head_stride;
  const uint v_base = p.v_offset + c0 * p.v_token_stride + head * p.v_head_stride;
  const uint rec = p.x_offset + (chunk * p.n_v_heads + head) * (C * DK + C * p.dv + C * C + 3 * C);
  const uint w_at = rec, u_at = w_at + C * DK, qk_at = u_at + C * p.dv, gam_at = qk_at + C * C;

  {
    const uint row = tid / LPR, lane = tid % LPR;
    float sq = 0.0, sk = 0.0;
    if (row < len) {
      for (uint d = lane; d < DK; d += LPR) {
        const float qv = q[q_base + row * p.q_token_stride + d], kv = k[k_base + row * p.k_token_stride + d];
        sq += qv * qv;
        sk += kv * kv;
      }
    }
    part_q[row][lane] = sq;
    part_k[row][lane] = sk;
  }
  if (tid < len) bet[tid] = beta[p.b_offset + (c0 + tid) * p.n_v_heads + head];
  if (tid == 0) {
    float acc = 0.0;  // in token order, as the CPU sums it
    for (uint i = 0; i < len; ++i) {
      acc += g[p.g_offset + (c0 + i) * p.n_v_heads + head];
      gam[i] = acc;
    }
  }
  barrier();
  if (tid < len) {
    float sq = 0.0, sk = 0.0;
    for (uint l = 0; l < LPR; ++l) {
      sq += part_q[tid][l];
      sk += part_k[tid][l];
    }
    nq[tid] = 1.0 / max(sqrt(sq), p.eps) * p.q_scale;
    nk[tid] = 1.0 / max(sqrt(sk), p.eps);
    bgk[tid] = bet[tid] * exp(gam[tid]) * nk[tid];
    scratch[gam_at + tid] = gam[tid];
    scratch[gam_at + C + tid] = nq[tid];
    scratch[gam_at + 2 * C + tid] = nk[tid];
  }
  barrier();

  // QK (output) and A (shared), lower triangle; zeros elsewhere.
  for (uint e = tid; e < C * C; e += WG) {
    const uint i = e / C, j = e % C;
    float a = 0.0, qk = 0.0;
    if (i < len && j <= i) {
      const uint qi = q_base + i * p.q_token_stride, ki = k_base + i * p.k_token_stride;
      const uint kj = k_base + j * p.k_token_stride;
      float dqk = 0.0, dkk = 0.0;
      for (uint d = 0; d < DK; ++d) {
        const float kv = k[kj + d];
        dqk += q[qi + d] * kv;
        dkk += k[ki + d] * kv;
      }
      const float decay = exp(gam[i] - gam[j]);
      qk = dqk * nq[i] * nk[j] * decay;
      if (j < i) a = bet[i] * dkk * nk[i] * nk[j] * decay;
    }
    am[i][j] = a;
    scratch[qk_at + e] = qk;
  }
  barrier();

  // T = (I + A)^-1: T_ij = -(A_ij + sum_{j<m<i} A_im T_mj), rows in order (row i reads rows < i).
  for (uint i = 1; i < len; ++i) {
    float t_ij = 0.0;
    if (tid < i) {
      t_ij = -am[i][tid];
      for (uint m = tid + 1; m < i; ++m) t_ij -= am[i][m] * am[m][tid];
    }
    barrier();
    if (tid < i) am[i][tid] = t_ij;
    barrier();
  }

  // W = T (beta Gamma K^), U = T (beta V): row i sums rows m <= i (T_ii = 1).
  for (uint e = tid; e < len * DK; e += WG) {
    const uint i = e / DK, d = e % DK;
    float w = bgk[i] * k[k_base + i * p.k_token_stride + d];
    for (uint m = 0; m < i; ++m) w += am[i][m] * bgk[m] * k[k_base + m * p.k_token_stride + d];
    scratch[w_at + e] = w;
  }
  for (uint e = tid; e < len * p.dv; e += WG) {
    const uint i = e / p.dv, j = e % p.dv;
    float u = bet[i] * v[v_base + i * p.v_token_stride + j];
    for (uint m = 0; m < i; ++m) u += am[i][m] * bet[m] * v[v_base + m * p.v_token_stride + j];
    scratch[u_at + e] = u;
  }
}
