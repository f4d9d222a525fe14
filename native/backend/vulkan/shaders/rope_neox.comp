#version 450
// NEOX RoPE in place on the first n_rot dims of each head: pair (i, i + n_rot/2) of head h of
// token t turns by theta_i = pos[t] * theta_scale^i. One invocation per (token, head, pair); dims
// n_rot..head_dim-1 are not touched. The position is read from device memory so a recording
// replays for the next token.
//
// The angle is built as the CPU backend (and ggml) builds it: theta = pos, then i times
// theta *= theta_scale in float, so it rounds the same way. Before cos/sin the angle is reduced
// to [-pi, pi] (Cody-Waite): built-in cos/sin are only specified near zero, and GPUs reduce
// large arguments with a float product that loses the low bits of the angle. 2 pi is split into
// two 8-bit parts and a float, so k * A and k * B are exact for k < 2^16 (positions up to ~400K).
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Pos { int pos[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_heads, head_dim, half_rot;
  uint x_offset;    // in floats
  uint pos_offset;  // in ints
  float theta_scale;
} p;

const float TWO_PI_A = 6.28125;                 // 8 significant bits
const float TWO_PI_B = 1.93023681640625e-3;     // the next 8 bits of 2 pi
const float TWO_PI_C = 5.070363386039389e-6;    // 2 pi - A - B, rounded to float
const float INV_TWO_PI = 0.15915494309189535;

void main() {
  const uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  const uint per_token = p.n_heads * p.half_rot;
  if (id >= p.n_tokens * per_token) return;
  const uint t = id / per_token;
  const uint h = (id % per_token) / p.half_rot;
  const uint i = id % p.half_rot;

  precise float theta = float(pos[p.pos_offset + t]);
  for (uint j = 0; j < i; ++j) theta *= p.theta_scale;
  precise const float k = round(theta * INV_TWO_PI);
  precise const float r = ((theta - k * TWO_PI_A) - k * TWO_PI_B) - k * TWO_PI_C;
  const float c = cos(r), s = sin(r);

  const uint base = p.x_offset + (t * p.n_heads + h) * p.head_dim + i;
  const float x0 = x[base], x1 = x[base + p.half_rot];
  x[base] = x0 * c - x1 * s;
  x[base + p.half_rot] = x0 * s + x1 * c;
}
