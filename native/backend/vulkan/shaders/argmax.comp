#version 450
// Greedy sampling on the device: ids[t] = the index of the largest of row t's n logits, the
// lowest index on ties (as engine/sampler.cpp argmax), one workgroup per row, reduced in shared
// memory. The id stays on the device, for the next step's embedding lookup.
layout(constant_id = 0) const uint WG = 256;  // a power of two
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) writeonly buffer I { int ids[]; };

layout(push_constant) uniform Params {
  uint n_rows, n;
  uint l_offset, i_offset;  // in words
} p;

shared float red_v[WG];
shared uint red_i[WG];

void main() {
  const uint t = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (t >= p.n_rows) return;
  const uint tid = gl_LocalInvocationID.x;
  const uint row = p.l_offset + t * p.n;
  // Each thread's first element, then strictly larger ones: ascending indices keep the lowest on
  // ties. A thread with no element holds index ~0u, which loses every comparison.
  float bv = 0.0;
  uint bi = ~0u;
  if (tid < p.n) {
    bv = logits[row + tid];
    bi = tid;
  }
  for (uint e = tid + WG; e < p.n; e += WG) {
    const float v = logits[row + e];
    if (v > bv) {
      bv = v;
      bi = e;
    }
  }
  red_v[tid] = bv;
  red_i[tid] = bi;
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (tid < h) {
      const float v = red_v[tid + h];
      const uint i = red_i[tid + h];
      if (i != ~0u && (red_i[tid] == ~0u || v > red_v[tid] || (v == red_v[tid] && i < red_i[tid]))) {
        red_v[tid] = v;
        red_i[tid] = i;
      }
    }
    barrier();
  }
  if (tid == 0) ids[p.i_offset + t] = int(red_i[0]);
}
