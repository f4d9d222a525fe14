#version 450
// y[t][r] = sum_c W[r][c] * x[t][c] for Q4_K rows W and up to MAX_TOKENS float activation rows
// (decode and short batches): one workgroup per weight row, dequantizing in registers. Each
// invocation takes 32-value sub-blocks in turn; the per-token sums are reduced in shared memory,
// so the shader assumes no subgroup size.
//
// Q4_K block (144 bytes = 36 words): d and dmin (two fp16 in word 0), 12 bytes of 6-bit scales
// and mins (words 1..3), 128 bytes of 4-bit quants (words 4..35). Sub-block s (0..7) of 32 values
// is the low (s even) or high (s odd) nibbles of quant bytes [32 (s/2), 32 (s/2) + 32), value
// d * scale_s * q - dmin * min_s.
layout(constant_id = 0) const uint WG = 64;  // a power of two
layout(local_size_x_id = 0) in;
const uint MAX_TOKENS = 8;

layout(std430, binding = 0) readonly buffer Wt { uint w[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
  uint n_cols;      // a multiple of 256
  uint n_rows;      // rows in this dispatch
  uint n_tokens;    // 1..MAX_TOKENS
  uint w_offset;    // in words, to row 0 of this dispatch
  uint x_offset, x_stride;  // in floats
  uint y_offset, y_stride;  // in floats; row r of this dispatch is column y_offset + r
} p;

shared float partial[MAX_TOKENS][WG];

uint byte_at(uint word_index, uint k) {  // byte k of the bytes starting at word word_index
  return (w[word_index + k / 4] >> (8 * (k % 4))) & 0xFFu;
}

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  const uint t = gl_LocalInvocationID.x;
  if (row >= p.n_rows) return;  // the whole workgroup leaves together: no barrier is skipped
  const uint n_blocks = p.n_cols / 256;
  const uint row_words = n_blocks * 36;
  float acc[MAX_TOKENS];
  for (uint j = 0; j < MAX_TOKENS; ++j) acc[j] = 0.0;

  for (uint i = t; i < n_blocks * 8; i += WG) {
    const uint b = i / 8, s = i % 8;
    const uint base = p.w_offset + row * row_words + b * 36;
    const vec2 dm = unpackHalf2x16(w[base]);
    uint sc, mn;
    if (s < 4) {
      sc = byte_at(base + 1, s) & 63u;
      mn = byte_at(base + 1, s + 4) & 63u;
    } else {
      sc = (byte_at(base + 1, s + 4) & 0xFu) | ((byte_at(base + 1, s - 4) >> 6) << 4);
      mn = (byte_at(base + 1, s + 4) >> 4) | ((byte_at(base + 1, s) >> 6) << 4);
    }
    const float scale = dm.x * float(sc), offset = dm.y * float(mn);
    const uint q_word = base + 4 + 8 * (s / 2);
    const uint shift = 4 * (s % 2);
    const uint col = b * 256 + s * 32;
    for (uint k = 0; k < 8; ++k) {
      const uint qw = w[q_word + k];
      const vec4 q = vec4((qw >> shift) & 0xFu, (qw >> (shift + 8)) & 0xFu, (qw >> (shift + 16)) & 0xFu,
                          (qw >> (shift + 24)) & 0xFu);
      const vec4 v = scale * q - offset;
      for (uint j = 0; j < p.n_tokens; ++j) {
        const uint xi = p.x_offset + j * p.x_stride + col + 4 * k;
        acc[j] += dot(v, vec4(x[xi], x[xi + 1], x[xi + 2], x[xi + 3]));
      }
    }
  }
  for (uint j = 0; j < p.n_tokens; ++j) partial[j][t] = acc[j];
  barrier();
  for (uint h = WG / 2; h > 0; h >>= 1) {
    if (t < h) {
      for (uint j = 0; j < p.n_tokens; ++j) partial[j][t] += partial[j][t + h];
    }
    barrier();
  }
  if (t < p.n_tokens) y[p.y_offset + t * p.y_stride + row] = partial[t][0];
}
