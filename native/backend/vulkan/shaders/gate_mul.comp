#version 450
// y[i] = act(gate[i]) * x[i] over n values, act = silu (mode 0) or sigmoid (mode 1); y may be
// bound to the same memory as gate or x (each invocation reads its element before writing it).
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n;
  uint gate_offset, x_offset, y_offset;  // in floats
  uint mode;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n) return;
  const float g = gate[p.gate_offset + i];
  const float sig = 1.0 / (1.0 + exp(-g));
  const float a = p.mode == 0 ? g * sig : sig;
  y[p.y_offset + i] = a * x[p.x_offset + i];
}
