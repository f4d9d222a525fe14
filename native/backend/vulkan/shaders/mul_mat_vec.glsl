// Matrix-vector products for decode: y[t][r] = sum_c W[r][c] * x[t][c] for up to MAX_TOKENS
// float activation rows, the weight decoded in registers (dequant.glsl). Included by
// mul_mat_vec_<type>.comp, and with MUL_MAT_ID defined by mul_mat_vec_id_<type>.comp (MoE: grid
// row y is (token, expert slot) pair y, its expert id read from a device buffer).
//
// A workgroup of WG invocations takes WG / TPR weight rows, TPR invocations per row (the host
// picks TPR from the row length, so that short rows do not leave most invocations idle). The
// invocations of a row take its units in turn (neighbours read neighbouring bytes) and keep one
// sum per token; the sums are reduced in shared memory, so no subgroup size is assumed.
// A subgroup-reduction variant (subgroup size as a specialisation constant) would replace only the
// reduction at the end.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint WG = 64;   // a power of two
layout(constant_id = 1) const uint TPR = 64;  // invocations per weight row: a power of two <= WG
layout(local_size_x_id = 0) in;

#include "dequant.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

#ifdef MUL_MAT_ID
layout(std430, binding = 3) readonly buffer Ids { int ids[]; };
const uint MAX_TOKENS = 1;  // one (token, slot) pair per workgroup row
#else
const uint MAX_TOKENS = 8;
#endif

layout(push_constant) uniform Params {
  uint n_cols;
  uint n_rows;      // weight rows in this dispatch (of each expert, for MUL_MAT_ID)
  uint n_tokens;    // 1..MAX_TOKENS (MUL_MAT_ID: tokens of the batch, each with k slots)
  uint w_offset;    // bytes, to row 0 of this dispatch (of expert e0, for MUL_MAT_ID)
  uint row_bytes;
  uint x_offset, x_stride;  // floats; x_stride between tokens
  uint y_offset, y_stride;  // floats; row r of this dispatch is y column y_offset + r
#ifdef MUL_MAT_ID
  uint ids_offset;  // words; ids[t * k + j] is the expert of token t's slot j
  uint k;           // expert slots per token
  uint x_slot_stride;  // floats between the inputs of one token's slots (0: one input per token)
  uint expert_bytes;   // bytes between two experts' row 0
  uint e0, e1;         // experts [e0, e1) are in this dispatch's binding
  uint n_expert;       // ids outside [0, n_expert) give rows of zeros
#endif
} p;

shared float partial[MAX_TOKENS][WG];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint lane = lid % TPR;
#ifdef MUL_MAT_ID
  const uint block = gl_WorkGroupID.x;  // y: the (token, slot) pair
#else
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
#endif
  const uint row = block * (WG / TPR) + lid / TPR;
  const bool in_range = row < p.n_rows;

#ifdef MUL_MAT_ID
  // Every invocation of the workgroup reads the same id, so they all leave together.
  const uint pair = gl_WorkGroupID.y;
  const int id = ids[p.ids_offset + pair];
  const uint t = pair / p.k, slot = pair % p.k;
  const uint x_base = p.x_offset + t * p.x_stride + slot * p.x_slot_stride;
  const uint y_base = p.y_offset + pair * p.y_stride;
  const uint n_tokens = 1u;
  if (id < 0 || uint(id) >= p.n_expert) {
    if (p.e0 == 0u && in_range && lane == 0u) y[y_base + row] = 0.0;  // one dispatch writes them
    return;
  }
  if (uint(id) < p.e0 || uint(id) >= p.e1) return;  // another dispatch's expert
  const uint row_addr = p.w_offset + (uint(id) - p.e0) * p.expert_bytes + row * p.row_bytes;
#else
  const uint x_base = p.x_offset;
  const uint y_base = p.y_offset;
  const uint n_tokens = p.n_tokens;
  const uint row_addr = p.w_offset + row * p.row_bytes;
#endif

  float acc[MAX_TOKENS];
  [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) acc[j] = 0.0;

  if (in_range) {
    const uint n_units = (p.n_cols + UNIT - 1u) / UNIT;
    for (uint u = lane; u < n_units; u += TPR) {
      vec4 v[UNIT / 4];
      decode_unit(row_addr, u, p.n_cols, v);
      const uint col = u * UNIT;
      // Unrolled over MAX_TOKENS so that acc stays in registers (a loop to n_tokens would index
      // it dynamically).
      [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) {
        if (j < n_tokens) {
          const uint xi = x_base + j * p.x_stride + col;
          float s = 0.0;
#ifdef FLOAT_TYPE
          if (col + UNIT > p.n_cols) {  // the row's last, partial unit: x ends with the row
            for (uint e = 0u; col + e < p.n_cols; ++e) s += v[e / 4u][e % 4u] * x[xi + e];
          } else
#endif
          {
            [[unroll]] for (uint k = 0u; k < UNIT / 4u; ++k) {
              s += dot(v[k], vec4(x[xi + 4u * k], x[xi + 4u * k + 1u], x[xi + 4u * k + 2u], x[xi + 4u * k + 3u]));
            }
          }
          acc[j] += s;
        }
      }
    }
  }

  [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) {
    if (j < n_tokens) partial[j][lid] = acc[j];
  }
  barrier();
  for (uint h = TPR / 2u; h > 0u; h >>= 1) {
    if (lane < h) {
      for (uint j = 0u; j < n_tokens; ++j) partial[j][lid] += partial[j][lid + h];
    }
    barrier();
  }
  if (in_range) {
    for (uint j = lane; j < n_tokens; j += TPR) y[y_base + j * p.y_stride + row] = partial[j][lid - lane];
  }
}
