#version 450
// The second pass of split-context attention (attention.comp, mode 1): for each (token, head)
// the parts' (m, l, acc) are combined in part order, o = sum_z e^(m_z - M) acc_z / sum_z
// e^(m_z - M) l_z with M the largest m. Only the parts that start at or before the token's
// position were written this step (pos0 is read from device memory, as the first pass read it);
// of those, parts with l = 0 saw no key. One workgroup per (token, head), threads over dims.
layout(constant_id = 0) const uint WG = 128;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Part { float partial[]; };
layout(std430, binding = 1) readonly buffer Pos { int pos[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_head, head_dim, part_len, n_parts;
  uint part_offset, pos_offset, o_offset;  // in words
} p;

void main() {
  const uint task = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;  // t * n_head + h
  if (task >= p.n_tokens * p.n_head) return;
  const uint t = task / p.n_head;
  const uint position = uint(max(pos[p.pos_offset], 0)) + t;
  const uint n_active = min(p.n_parts, position / p.part_len + 1);
  const uint rec = p.head_dim + 2;
  const uint base = p.part_offset + task * p.n_parts * rec;
  float max_m = -3.0e38;
  for (uint z = 0; z < n_active; ++z) {
    if (partial[base + z * rec + 1] > 0.0) max_m = max(max_m, partial[base + z * rec]);
  }
  float sum = 0.0;
  for (uint z = 0; z < n_active; ++z) {
    const float l = partial[base + z * rec + 1];
    if (l > 0.0) sum += exp(partial[base + z * rec] - max_m) * l;
  }
  const float inv = 1.0 / sum;
  for (uint d = gl_LocalInvocationID.x; d < p.head_dim; d += WG) {
    float acc = 0.0;
    for (uint z = 0; z < n_active; ++z) {
      const float l = partial[base + z * rec + 1];
      if (l > 0.0) acc += exp(partial[base + z * rec] - max_m) * partial[base + z * rec + 2 + d];
    }
    o[p.o_offset + task * p.head_dim + d] = acc * inv;
  }
}
