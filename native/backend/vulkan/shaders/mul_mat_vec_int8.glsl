// Matrix-vector products with integer dot products, for decode: y[t][r] = sum_c W[r][c] * x[t][c]
// for up to MAX_TOKENS activation rows quantized to q8_1 blocks (quantize_q8_1.comp). Each 32-value
// unit of a weight row is unpacked to 32 signed bytes in eight words (load_unit below, per type),
// dotted with the activation block's bytes by OpSDotAccSat on packed 4x8-bit vectors
// (SPV_KHR_integer_dot_product), and scaled once per unit:
//   d_x * (s_lo * dot(words 0..3) + s_hi * dot(words 4..7)) - m * (d_x * sum(q_x))
// s_lo and s_hi are the weight scales of the unit's two 16-value halves (equal but for Q6_K), m its
// minimum (Q4_K; 0 elsewhere). Included by mul_mat_vec_int8_<type>.comp, which defines TYPE_<type>.
//
// Work split and reduction as mul_mat_vec.glsl: WG / TPR rows per workgroup, TPR invocations per
// row taking its units in turn, sums reduced in shared memory.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_spirv_intrinsics : require

layout(constant_id = 0) const uint WG = 64;   // a power of two
layout(constant_id = 1) const uint TPR = 64;  // invocations per weight row: a power of two <= WG
layout(local_size_x_id = 0) in;

#include "dequant.glsl"  // the weight binding and its byte readers (decode_unit is not used)

layout(std430, binding = 1) readonly buffer Q8 { uint qa[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

// OpSDotAccSat (4453) on two 32-bit words of four signed bytes each (packed vector format 0), as
// GL_EXT_integer_dot_product's dotPacked4x8AccSatEXT; declared through GL_EXT_spirv_intrinsics
// because Debian 12's glslang predates that extension. Capabilities: DotProduct (6019),
// DotProductInput4x8BitPacked (6018).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4453)
int sdot_acc_sat_4x8(int a, int b, int acc, spirv_literal int packed_format);

int dot_words(uint a, uint b, int acc) { return sdot_acc_sat_4x8(int(a), int(b), acc, 0); }

const uint MAX_TOKENS = 8;

layout(push_constant) uniform Params {
  uint n_cols;
  uint n_rows;      // weight rows in this dispatch
  uint n_tokens;    // 1..MAX_TOKENS
  uint w_offset;    // bytes, to row 0 of this dispatch
  uint row_bytes;
  uint q_offset;    // words, to token 0's packed activations (8 * n_cols / 32 words per token)
  uint ds_offset;   // words, to token 0's (d, d * sum) pairs (2 * n_cols / 32 words per token)
  uint y_offset, y_stride;  // floats; row r of this dispatch is y column y_offset + r
} p;

// Four bytes each q - bias (q < 128, bias < 128 per byte) as signed bytes, with no carry between
// bytes: q | 0x80 is q + 128, minus the bias stays in [0, 255], and the xor takes 128 off again.
uint minus_bytes(uint q, uint bias) { return ((q | 0x80808080u) - bias) ^ 0x80808080u; }

#if defined(TYPE_Q4_0)
// (q - 8) * d; the low nibbles of the 16 bytes are values 0..15, the high ones 16..31.
void load_unit(uint row, uint u, out uint q[8], out vec2 s, out float m) {
  const uint b = row + 18u * u;
  s = vec2(w_f16(b));
  m = 0.0;
  [[unroll]] for (uint k = 0u; k < 4u; ++k) {
    const uint v = w_u32(b + 2u + 4u * k);
    q[k] = minus_bytes(v & 0x0F0F0F0Fu, 0x08080808u);
    q[k + 4u] = minus_bytes((v >> 4) & 0x0F0F0F0Fu, 0x08080808u);
  }
}

#elif defined(TYPE_Q8_0)
// q * d, the bytes as they are.
void load_unit(uint row, uint u, out uint q[8], out vec2 s, out float m) {
  const uint b = row + 34u * u;
  s = vec2(w_f16(b));
  m = 0.0;
  [[unroll]] for (uint k = 0u; k < 8u; ++k) q[k] = w_u32(b + 2u + 4u * k);
}

#elif defined(TYPE_Q4_K)
// d * scale_s * q - dmin * min_s for sub-block s (layout in dequant.glsl).
void load_unit(uint row, uint u, out uint q[8], out vec2 s, out float m) {
  const uint b = row + 144u * (u / 8u), sb = u % 8u;
  const vec2 dm = unpackHalf2x16(w_u32(b));
  const vec2 sm = scale_min_k4(b + 4u, sb);
  s = vec2(dm.x * sm.x);
  m = dm.y * sm.y;
  const uint q0 = b + 16u + 32u * (sb / 2u), shift = 4u * (sb % 2u);
  [[unroll]] for (uint k = 0u; k < 8u; ++k) q[k] = (w_u32(q0 + 4u * k) >> shift) & 0x0F0F0F0Fu;
}

#elif defined(TYPE_Q6_K)
// (d * scale) * (q - 32), a scale per 16 values (layout in dequant.glsl).
void load_unit(uint row, uint u, out uint q[8], out vec2 s, out float m) {
  const uint b = row + 210u * (u / 8u), sb = u % 8u, n = sb / 4u, g = sb % 4u;
  const float d = w_f16(b + 208u);
  const uint sc = w_u16(b + 192u + 8u * n + 2u * g);
  s = vec2(d * float(int(sc << 24) >> 24), d * float(int(sc << 16) >> 24));
  m = 0.0;
  const uint ql = b + 64u * n + 32u * (g % 2u), lshift = 4u * (g / 2u);
  const uint qh = b + 128u + 32u * n, hshift = 2u * g;
  [[unroll]] for (uint k = 0u; k < 8u; ++k) {
    const uint lo = (w_u32(ql + 4u * k) >> lshift) & 0x0F0F0F0Fu;
    const uint hi = (w_u32(qh + 4u * k) >> hshift) & 0x03030303u;
    q[k] = minus_bytes(lo | (hi << 4), 0x20202020u);
  }
}

#else
#error "define TYPE_Q4_0, TYPE_Q8_0, TYPE_Q4_K or TYPE_Q6_K before including mul_mat_vec_int8.glsl"
#endif

shared float partial[MAX_TOKENS][WG];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint lane = lid % TPR;
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint row = block * (WG / TPR) + lid / TPR;
  const bool in_range = row < p.n_rows;
  const uint row_addr = p.w_offset + row * p.row_bytes;
  const uint n_units = p.n_cols / 32u;

  float acc[MAX_TOKENS];
  [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) acc[j] = 0.0;

  if (in_range) {
    for (uint u = lane; u < n_units; u += TPR) {
      uint q[8];
      vec2 s;
      float m;
      load_unit(row_addr, u, q, s, m);
      [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) {
        if (j < p.n_tokens) {
          const uint a = p.q_offset + 8u * (j * n_units + u);
          const uint di = p.ds_offset + 2u * (j * n_units + u);
          int lo = 0, hi = 0;
          [[unroll]] for (uint k = 0u; k < 4u; ++k) {
            lo = dot_words(q[k], qa[a + k], lo);
            hi = dot_words(q[k + 4u], qa[a + k + 4u], hi);
          }
          const vec2 ds = uintBitsToFloat(uvec2(qa[di], qa[di + 1u]));
          acc[j] += ds.x * (s.x * float(lo) + s.y * float(hi)) - m * ds.y;
        }
      }
    }
  }

  [[unroll]] for (uint j = 0u; j < MAX_TOKENS; ++j) {
    if (j < p.n_tokens) partial[j][lid] = acc[j];
  }
  barrier();
  for (uint h = TPR / 2u; h > 0u; h >>= 1) {
    if (lane < h) {
      for (uint j = 0u; j < p.n_tokens; ++j) partial[j][lid] += partial[j][lid + h];
    }
    barrier();
  }
  if (in_range) {
    for (uint j = lane; j < p.n_tokens; j += TPR) y[p.y_offset + j * p.y_stride + row] = partial[j][lid - lane];
  }
}
