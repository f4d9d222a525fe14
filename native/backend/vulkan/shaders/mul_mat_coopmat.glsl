// Matrix-matrix products for prefill on NVIDIA's cooperative matrices (GL_NV_cooperative_matrix):
// y[t][r] = sum_c W[r][c] * x[t][c], the same product, bindings and push constants as
// mul_mat.glsl. Included by mul_mat_coopmat_<type>.comp; the host runs it only where the device
// enabled VK_NV_cooperative_matrix with a 16x16x16 fp16 x fp16 -> fp32 subgroup shape
// (DeviceInfo::coopmat_nv) and fp16 arithmetic.
//
// A workgroup computes a tile of BM tokens x BN weight rows with four subgroups, each owning a
// 32 x 32 quarter of it as 2 x 2 fp32 accumulators of 16 x 16. For each BK-column step the
// workgroup decodes the weight tile into shared memory as fp16 (dequant.glsl, one unit per
// invocation: the values are decoded in fp32 and rounded once) and converts the activation tile
// beside it, then each subgroup multiplies BK / 16 pairs of 16 x 16 fp16 tiles into its
// accumulators. The accumulators go through shared memory to y, so that tokens and rows past the
// end are never written and y needs no alignment.
//
// Workgroup: NSUB subgroups of whatever size the device runs; the host sets the width
// (local_size_x_id 0) to 4 x the subgroup size it reports, and the shader indexes subgroups by
// gl_SubgroupID. Shared tiles are k-contiguous (token-major activations, row-major weights; the
// weights load as the column-major K x N operand), padded by 8 halves per line against bank
// conflicts, keeping every line and every 16-value step on a 16-byte boundary.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require

const uint BM = 64, BN = 64, BK = 64;
const uint CM = 16;                         // the cooperative-matrix side (M = N = K = 16)
const uint NSUB = 4;                        // subgroups per workgroup: 2 x 2 quarters
const uint SM = BM / 2, SN = BN / 2;        // a subgroup's quarter
const uint FM = SM / CM, FN = SN / CM;      // its accumulators each way
const uint LS = BK + 8;                     // shared line length of the fp16 tiles, in halves
const uint CS = BN + 4;                     // shared line length of the fp32 result tile
layout(local_size_x_id = 0) in;             // NSUB x the subgroup size

#include "dequant.glsl"

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n_cols;
  uint n_rows;      // weight rows in this dispatch
  uint n_tokens;
  uint w_offset;    // bytes, to row 0 of this dispatch
  uint row_bytes;
  uint x_offset, x_stride;  // floats; x_stride between tokens
  uint y_offset, y_stride;  // floats; row r of this dispatch is y column y_offset + r
} p;

shared float16_t xs[BM * LS];  // xs[m * LS + k]: token m0 + m, column k0 + k
shared float16_t ws[BN * LS];  // ws[n * LS + k]: row n0 + n, column k0 + k
shared float cs[BM * CS];      // cs[m * CS + n]: the result tile

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint wg = gl_WorkGroupSize.x;
  const uint n0 = gl_WorkGroupID.x * BN;  // first weight row of the tile
  const uint m0 = gl_WorkGroupID.y * BM;  // first token of the tile
  const uint sub = gl_SubgroupID;
  const uint qm = (sub / 2u) * SM, qn = (sub % 2u) * SN;  // the subgroup's quarter

  fcoopmatNV<32, gl_ScopeSubgroup, CM, CM> acc[FM][FN];
  [[unroll]] for (uint i = 0u; i < FM; ++i) {
    [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, CM, CM>(0.0);
  }

  for (uint k0 = 0u; k0 < p.n_cols; k0 += BK) {
    // Weight tile: BN rows of BK / UNIT units; rows past the end and units past the row's end
    // (a row of 96 Q8_0 values, a float row of any length) are zeros.
    for (uint i = lid; i < BN * (BK / UNIT); i += wg) {
      const uint n = i % BN, uk = i / BN;
      vec4 v[UNIT / 4];
      if (n0 + n < p.n_rows && k0 + uk * UNIT < p.n_cols) {
        decode_unit(p.w_offset + (n0 + n) * p.row_bytes, k0 / UNIT + uk, p.n_cols, v);
      } else {
        [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) v[c] = vec4(0.0);
      }
      const uint base = n * LS + uk * UNIT;
      [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) {
        [[unroll]] for (uint e = 0u; e < 4u; ++e) ws[base + 4u * c + e] = float16_t(v[c][e]);
      }
    }
    // Activation tile: neighbouring invocations read neighbouring columns of a token.
    for (uint i = lid; i < BM * BK; i += wg) {
      const uint kk = i % BK, m = i / BK;
      const uint t = m0 + m, c = k0 + kk;
      xs[m * LS + kk] = float16_t(t < p.n_tokens && c < p.n_cols ? x[p.x_offset + t * p.x_stride + c] : 0.0);
    }
    barrier();
    [[unroll]] for (uint kk = 0u; kk < BK; kk += CM) {
      fcoopmatNV<16, gl_ScopeSubgroup, CM, CM> a[FM];
      fcoopmatNV<16, gl_ScopeSubgroup, CM, CM> b[FN];
      [[unroll]] for (uint i = 0u; i < FM; ++i) coopMatLoadNV(a[i], xs, (qm + CM * i) * LS + kk, LS, false);
      [[unroll]] for (uint j = 0u; j < FN; ++j) coopMatLoadNV(b[j], ws, (qn + CM * j) * LS + kk, LS, true);
      [[unroll]] for (uint i = 0u; i < FM; ++i) {
        [[unroll]] for (uint j = 0u; j < FN; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
      }
    }
    barrier();
  }

  [[unroll]] for (uint i = 0u; i < FM; ++i) {
    [[unroll]] for (uint j = 0u; j < FN; ++j) {
      coopMatStoreNV(acc[i][j], cs, (qm + CM * i) * CS + qn + CM * j, CS, false);
    }
  }
  barrier();
  // Neighbouring invocations write neighbouring y columns (weight rows) of a token.
  for (uint i = lid; i < BM * BN; i += wg) {
    const uint n = i % BN, m = i / BN;
    const uint t = m0 + m, r = n0 + n;
    if (t < p.n_tokens && r < p.n_rows) y[p.y_offset + t * p.y_stride + r] = cs[m * CS + n];
  }
}
