#version 450
// y[r][c] = x[r][c] * w[c] / sqrt(mean_c(x[r][c]^2) + eps): one workgroup per row (rows past
// the device's workgroup-count limit go on in the grid's y dimension). The sum of
// squares is reduced in shared memory, so the shader assumes no subgroup size.
layout(constant_id = 0) const uint WG = 128;  // a power of two
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n_cols;
  uint n_rows;
  uint x_offset, x_stride;  // in floats
  uint w_offset;
  uint y_offset, y_stride;
  float eps;
} p;

shared float partial[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = gl_LocalInvocationID.x;
  if (row >= p.n_rows) return;  // the whole workgroup leaves together: no barrier is skipped
  const uint xr = p.x_offset + row * p.x_stride;
  float s = 0.0;
  for (uint c = t; c < p.n_cols; c += WG) {
    const float v = x[xr + c];
    s += v * v;
  }
  partial[t] = s;
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (t < h) partial[t] += partial[t + h];
    barrier();
  }
  const float scale = inversesqrt(partial[0] / float(p.n_cols) + p.eps);
  const uint yr = p.y_offset + row * p.y_stride;
  for (uint c = t; c < p.n_cols; c += WG) y[yr + c] = x[xr + c] * scale * w[p.w_offset + c];
}
