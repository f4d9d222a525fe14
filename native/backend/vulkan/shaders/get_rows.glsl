// Embedding lookup: out[i] = row ids[i] of a weight table, dequantized to floats. The ids are read
// from a device buffer, so a recorded decode step replays with the next token's id written there.
// Included by get_rows_<type>.comp.
//
// Workgroup (x, y) decodes WG units of row ids[y], one per invocation (dequant.glsl). A table
// larger than one binding is bound in row ranges, one dispatch each: a dispatch skips the ids
// outside its range, and the one holding row 0 writes zeros for ids outside the table.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

#include "dequant.glsl"

layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Out { float o[]; };

layout(push_constant) uniform Params {
  uint n_cols;
  uint r0, n_rows;    // table rows [r0, r0 + n_rows) are in this dispatch's binding
  uint table_rows;    // rows of the whole table
  uint w_offset;      // bytes, to row r0
  uint row_bytes;
  uint ids_offset;    // words, to the id of this dispatch's first output row
  uint out_offset, out_stride;  // floats, to this dispatch's first output row; between rows
} p;

void main() {
  const uint i = gl_WorkGroupID.y;
  const uint u = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x;
  if (u * UNIT >= p.n_cols) return;
  const int id = ids[p.ids_offset + i];
  const uint out_base = p.out_offset + i * p.out_stride + u * UNIT;
  vec4 v[UNIT / 4];
  if (id < 0 || uint(id) >= p.table_rows) {
    if (p.r0 != 0u) return;
    [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) v[c] = vec4(0.0);
  } else {
    if (uint(id) < p.r0 || uint(id) - p.r0 >= p.n_rows) return;
    decode_unit(p.w_offset + (uint(id) - p.r0) * p.row_bytes, u, p.n_cols, v);
  }
  [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) {
    [[unroll]] for (uint e = 0u; e < 4u; ++e) {
#ifdef FLOAT_TYPE
      if (u * UNIT + 4u * c + e >= p.n_cols) break;  // the row's last, partial unit
#endif
      o[out_base + 4u * c + e] = v[c][e];
    }
  }
}
