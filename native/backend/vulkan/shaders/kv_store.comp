#version 450
// Appends this step's keys (or values) to an F16 or F32 cache (F32_CACHE): row (t, h) of x
// ([n_tokens][n_head_kv][head_dim] floats) goes to position pos[t] of head h of the cache
// ([n_head_kv][capacity][head_dim]), the positions read from device memory so the recording
// replays for the next token. One invocation per (token, head, pair of dims), each writing one
// 32-bit word of fp16 or two of float. Positions outside the cache are dropped (the caller sizes
// it; this only keeps a bad position from writing into the next head).
//
// fp32 -> fp16 in integer arithmetic, round to nearest even (as quant/fp16.h and ggml): the
// inputs are read as bits, so no float operation or denormal flush can change them; an F32
// cache gets the bits as they are.
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint F32_CACHE = 0;  // 1: the cache holds float32, 0: fp16
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer XN { uint x[]; };
layout(std430, binding = 1) writeonly buffer C { uint cache[]; };
layout(std430, binding = 2) readonly buffer Pos { int pos[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_head_kv, head_dim, capacity;
  uint head0, n_heads;  // the heads of this dispatch: [head0, head0 + n_heads); the cache is bound from head0
  uint x_offset;        // in floats
  uint c_offset;        // in 32-bit words
  uint pos_offset;
} p;

uint fp16_bits(uint w) {
  const uint sign = (w >> 16) & 0x8000u;
  const uint a = w & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7E00u;   // NaN
  if (a >= 0x477FF000u) return sign | 0x7C00u;  // rounds to inf
  if (a < 0x38800000u) {                        // fp16 subnormal or zero
    if (a < 0x33000000u) return sign;
    const uint e = a >> 23;
    const uint m = (a & 0x7FFFFFu) | 0x800000u;
    const uint shift = 126u - e;                // 14..24
    uint q = m >> shift;
    const uint rem = m & ((1u << shift) - 1u);
    const uint half_unit = 1u << (shift - 1u);
    if (rem > half_unit || (rem == half_unit && (q & 1u) != 0u)) ++q;
    return sign | q;
  }
  const uint r = a - 0x38000000u;
  uint q = r >> 13;
  const uint rem = r & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) != 0u)) ++q;
  return sign | q;
}

void main() {
  const uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  const uint half_dim = p.head_dim / 2;
  if (id >= p.n_tokens * p.n_heads * half_dim) return;
  const uint t = id / (p.n_heads * half_dim);
  const uint lh = (id / half_dim) % p.n_heads;  // head within this dispatch
  const uint w = id % half_dim;
  const int position = pos[p.pos_offset + t];
  if (position < 0 || uint(position) >= p.capacity) return;
  const uint src = (t * p.n_head_kv + p.head0 + lh) * p.head_dim + 2 * w;
  const uint pair = (lh * p.capacity + uint(position)) * half_dim + w;
  if (F32_CACHE != 0) {
    cache[p.c_offset + 2 * pair] = x[p.x_offset + src];
    cache[p.c_offset + 2 * pair + 1] = x[p.x_offset + src + 1];
  } else {
    cache[p.c_offset + pair] = fp16_bits(x[p.x_offset + src]) | (fp16_bits(x[p.x_offset + src + 1]) << 16);
  }
}
