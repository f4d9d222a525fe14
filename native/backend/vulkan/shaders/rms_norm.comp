#version 450
// y[r][c] = x[r][c] * w[c] / sqrt(mean_c(x[r][c]^2) + eps) (w[c] left out when scale_by_w is 0):
// one workgroup per row (rows past the device's workgroup-count limit go on in the grid's y
// dimension). x's rows may be strided: row r = i1 + x_ne1 * i2 starts at i1 * x_s1 + i2 * x_s2
// (a view such as attention's q heads); y's are packed. The sum of squares is reduced in shared
// memory, so the shader assumes no subgroup size.
layout(constant_id = 0) const uint WG = 128;  // a power of two
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n_cols;
  uint n_rows;
  uint x_offset, x_ne1, x_s1, x_s2;  // in floats
  uint w_offset;
  uint y_offset;
  float eps;
  uint scale_by_w;
} p;

shared float partial[WG];

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = gl_LocalInvocationID.x;
  if (row >= p.n_rows) return;  // the whole workgroup leaves together: no barrier is skipped
  const uint xr = p.x_offset + (row % p.x_ne1) * p.x_s1 + (row / p.x_ne1) * p.x_s2;
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
  const uint yr = p.y_offset + row * p.n_cols;
  if (p.scale_by_w != 0) {
    for (uint c = t; c < p.n_cols; c += WG) y[yr + c] = x[xr + c] * scale * w[p.w_offset + c];
  } else {
    for (uint c = t; c < p.n_cols; c += WG) y[yr + c] = x[xr + c] * scale;
  }
}
