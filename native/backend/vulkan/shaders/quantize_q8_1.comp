#version 450
// Activation rows to q8_1 blocks for the integer-dot decode products (mul_mat_vec_int8.glsl):
// each block of 32 floats becomes 32 signed bytes q = round(x / d), d = max|x| / 127, packed four
// to a word in column order, and the pair (d, d * sum(q)). The pair's second value lets a weight
// type with a per-block minimum subtract min * sum(x) without a second pass (llama.cpp's q8_1).
//
// One invocation per block (no reduction, so no subgroup size is assumed). Token t's words start
// at q_offset + 8 * n_blocks * t, its pairs at ds_offset + 2 * n_blocks * t: the rows are dense.
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Q { uint q[]; };

layout(push_constant) uniform Params {
  uint n_blocks;            // per token: n_cols / 32
  uint n_tokens;
  uint x_offset, x_stride;  // floats; x_stride between tokens
  uint q_offset;            // words, to token 0's packed values
  uint ds_offset;           // words, to token 0's (d, d * sum) pairs (two floats per block)
} p;

void main() {
  const uint i = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n_blocks * p.n_tokens) return;
  const uint t = i / p.n_blocks, b = i % p.n_blocks;
  const uint xi = p.x_offset + t * p.x_stride + 32u * b;
  vec4 v[8];
  float amax = 0.0;
  [[unroll]] for (uint k = 0u; k < 8u; ++k) {
    v[k] = vec4(x[xi + 4u * k], x[xi + 4u * k + 1u], x[xi + 4u * k + 2u], x[xi + 4u * k + 3u]);
    amax = max(amax, max(max(abs(v[k].x), abs(v[k].y)), max(abs(v[k].z), abs(v[k].w))));
  }
  const float d = amax / 127.0;
  const float id = amax > 0.0 ? 127.0 / amax : 0.0;
  int sum = 0;
  [[unroll]] for (uint k = 0u; k < 8u; ++k) {
    // |x| * 127 / amax <= 127 up to rounding; the clamp keeps a rounding up inside a byte.
    const ivec4 c = clamp(ivec4(round(v[k] * id)), ivec4(-127), ivec4(127));
    sum += c.x + c.y + c.z + c.w;
    const uvec4 u = uvec4(c) & 0xFFu;
    q[p.q_offset + 8u * i + k] = u.x | (u.y << 8) | (u.z << 16) | (u.w << 24);
  }
  q[p.ds_offset + 2u * i] = floatBitsToUint(d);
  q[p.ds_offset + 2u * i + 1u] = floatBitsToUint(d * float(sum));
}
