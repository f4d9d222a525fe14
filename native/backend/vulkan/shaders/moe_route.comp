#version 450
// MoE routing of one token per workgroup, as model/qwen35/moe.cpp route_token: probabilities
// p = softmax(logits) over all experts (written out when asked), the k most probable experts (ties to the lower id, most
// probable first) and their weights w_i = p_i / max(sum of the k p_i, 2^-14). The ids and weights
// stay on the device for the expert products that follow. Every reduction goes through shared
// memory (no subgroup size assumed); the top k are k passes of an arg-max (k is small).
layout(constant_id = 0) const uint WG = 256;  // a power of two
layout(local_size_x_id = 0) in;
const uint MAX_EXPERTS = 1024;
const uint MAX_K = 32;

layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) writeonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer Wt { float weights[]; };
layout(std430, binding = 3) writeonly buffer P { float probs_out[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_expert, k;
  uint l_offset, i_offset, w_offset, p_offset;  // in words
  uint write_probs;
} p;

shared float probs[MAX_EXPERTS];
shared float red_v[WG];
shared uint red_i[WG];
shared float chosen_p[MAX_K];
shared int chosen_id[MAX_K];

// (v, i) before (bv, bi): larger value, then lower id; bi == ~0u marks "nothing yet".
bool before(float v, uint i, float bv, uint bi) {
  return i != ~0u && (bi == ~0u || v > bv || (v == bv && i < bi));
}

void main() {
  const uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (t >= p.n_tokens) return;
  const uint tid = gl_LocalInvocationID.x;
  const uint row = p.l_offset + t * p.n_expert;

  float mx = -3.0e38;
  for (uint e = tid; e < p.n_expert; e += WG) {
    probs[e] = logits[row + e];
    mx = max(mx, probs[e]);
  }
  red_v[tid] = mx;
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (tid < h) red_v[tid] = max(red_v[tid], red_v[tid + h]);
    barrier();
  }
  mx = red_v[0];
  barrier();
  float sum = 0.0;
  for (uint e = tid; e < p.n_expert; e += WG) {
    probs[e] = exp(probs[e] - mx);
    sum += probs[e];
  }
  red_v[tid] = sum;
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (tid < h) red_v[tid] += red_v[tid + h];
    barrier();
  }
  const float inv = 1.0 / red_v[0];
  barrier();
  for (uint e = tid; e < p.n_expert; e += WG) {
    probs[e] *= inv;
    if (p.write_probs != 0) probs_out[p.p_offset + t * p.n_expert + e] = probs[e];
  }
  barrier();

  for (uint i = 0; i < p.k; ++i) {
    float bv = 0.0;
    uint bi = ~0u;
    for (uint e = tid; e < p.n_expert; e += WG) {
      if (probs[e] >= 0.0 && before(probs[e], e, bv, bi)) {
        bv = probs[e];
        bi = e;
      }
    }
    red_v[tid] = bv;
    red_i[tid] = bi;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
      if (tid < h && before(red_v[tid + h], red_i[tid + h], red_v[tid], red_i[tid])) {
        red_v[tid] = red_v[tid + h];
        red_i[tid] = red_i[tid + h];
      }
      barrier();
    }
    if (tid == 0) {
      chosen_p[i] = red_v[0];
      chosen_id[i] = int(red_i[0]);
      probs[red_i[0]] = -1.0;  // taken: below every probability
    }
    barrier();
  }

  if (tid == 0) {
    float total = 0.0;
    for (uint i = 0; i < p.k; ++i) total += chosen_p[i];
    const float denom = max(total, 6.103515625e-5);
    for (uint i = 0; i < p.k; ++i) {
      ids[p.i_offset + t * p.k + i] = chosen_id[i];
      weights[p.w_offset + t * p.k + i] = chosen_p[i] / denom;
    }
  }
}
