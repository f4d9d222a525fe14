// Matrix-matrix products for prefill: y[t][r] = sum_c W[r][c] * x[t][c] for any number of float
// activation rows. Included by mul_mat_<type>.comp.
//
// The portable form, with no cooperative-matrix or subgroup feature: a workgroup computes a tile
// of BM tokens x BN weight rows. For each BK-column step it decodes the weight tile into shared
// memory as fp32 (dequant.glsl, one unit per invocation) and copies the activation tile beside
// it, then every invocation accumulates a TM x TN block of the tile in registers. A
// cooperative-matrix variant would keep the same tiling and bindings and replace the inner
// product (the loop over k below) with coopMatMulAdd on fp16 tiles; the host picks the shader.
//
// Shared tiles are k-major: the inner loop reads a row of each tile, and an invocation's TM
// tokens and TN rows are strided by the thread grid, so neighbouring invocations read neighbouring
// shared words and write neighbouring y columns. The activation tile is padded by one column so
// that its transposing store does not hit one bank.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

const uint BM = 64, BN = 64, BK = 32;
const uint TM = 4, TN = 4;
const uint GM = BM / TM, GN = BN / TN;  // the thread grid
const uint WG = GM * GN;
layout(local_size_x = WG) in;  // fixed by the tile shape; the host's width is ignored

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

shared float ws[BK][BN];
shared float xs[BK][BM + 1];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint n0 = gl_WorkGroupID.x * BN;  // first weight row of the tile
  const uint m0 = gl_WorkGroupID.y * BM;  // first token of the tile
  const uint tn = lid % GN, tm = lid / GN;

  float acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;
  }

  for (uint k0 = 0u; k0 < p.n_cols; k0 += BK) {
    // Weight tile: BN rows of BK / UNIT units; rows past the end are zeros, and so are the float
    // types' columns past the end (decode_unit).
    for (uint i = lid; i < BN * (BK / UNIT); i += WG) {
      const uint n = i % BN, uk = i / BN;
      vec4 v[UNIT / 4];
      if (n0 + n < p.n_rows) {
        decode_unit(p.w_offset + (n0 + n) * p.row_bytes, k0 / UNIT + uk, p.n_cols, v);
      } else {
        [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) v[c] = vec4(0.0);
      }
      [[unroll]] for (uint c = 0u; c < UNIT / 4u; ++c) {
        [[unroll]] for (uint e = 0u; e < 4u; ++e) ws[uk * UNIT + 4u * c + e][n] = v[c][e];
      }
    }
    // Activation tile: neighbouring invocations read neighbouring columns of a token.
    for (uint i = lid; i < BM * BK; i += WG) {
      const uint kk = i % BK, m = i / BK;
      const uint t = m0 + m, c = k0 + kk;
      xs[kk][m] = t < p.n_tokens && c < p.n_cols ? x[p.x_offset + t * p.x_stride + c] : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0u; kk < BK; ++kk) {
      float a[TM], b[TN];
      [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = xs[kk][tm + GM * i];
      [[unroll]] for (uint j = 0u; j < TN; ++j) b[j] = ws[kk][tn + GN * j];
      [[unroll]] for (uint i = 0u; i < TM; ++i) {
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    barrier();
  }

  [[unroll]] for (uint i = 0u; i < TM; ++i) {
    const uint t = m0 + tm + GM * i;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      const uint r = n0 + tn + GN * j;
      if (t < p.n_tokens && r < p.n_rows) y[p.y_offset + t * p.y_stride + r] = acc[i][j];
    }
  }
}
