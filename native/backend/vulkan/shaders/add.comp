#version 450
// y[i] = a[i] + b[i] over n values (residual adds); y may be bound to a's or b's memory.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n;
  uint a_offset, b_offset, y_offset;  // in floats
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n) return;
  y[p.y_offset + i] = a[p.a_offset + i] + b[p.b_offset + i];
}
