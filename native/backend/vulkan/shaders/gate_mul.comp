#version 450
// y[i] = act(gate[i]) * x[i] over n values, act = silu (mode 0) or sigmoid (mode 1); y may be
// bound to the same memory as x, or as a packed gate (each invocation reads its element before
// writing it). gate may be strided (strided != 0): rows of gate_ne0 values, row r = i1 + gate_ne1 * i2
// starting at i1 * gate_s1 + i2 * gate_s2 (attention's sigmoid gate, the second half of each
// head's 2 head_dim); x and y are packed.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n;
  uint gate_offset, x_offset, y_offset;  // in floats
  uint mode;
  uint strided;
  uint gate_ne0, gate_ne1, gate_s1, gate_s2;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n) return;
  uint gi = i;
  if (p.strided != 0) {
    const uint row = i / p.gate_ne0;
    gi = (row % p.gate_ne1) * p.gate_s1 + (row / p.gate_ne1) * p.gate_s2 + (i - row * p.gate_ne0);
  }
  const float g = gate[p.gate_offset + gi];
  const float sig = 1.0 / (1.0 + exp(-g));
  const float a = p.mode == 0 ? g * sig : sig;
  y[p.y_offset + i] = a * x[p.x_offset + i];
}
