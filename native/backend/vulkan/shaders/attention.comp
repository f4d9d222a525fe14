#version 450
// Causal GQA softmax attention over F16 or F32 KV caches ([n_head_kv][capacity][HD], head-major;
// F32_CACHE picks the type), as Backend::attention, with an online softmax over blocks of BK
// cached positions.
//
// A workgroup takes up to ROWS query rows that share one KV head: heads_per_wg of the group's
// query heads for tokens_per_wg consecutive tokens (row r: token t0 + r / heads_per_wg, head
// kv_head * group + head_block * heads_per_wg + r % heads_per_wg), so each cached key and value
// is read once for all of them. Workgroup ids: x = (KV head of this dispatch, head block),
// y = token tile, z = part of the context.
//
// The first position pos0 is read from device memory: the keys a workgroup reads end at the
// causal end of its last token, so dispatch sizes never depend on the context length (a part
// wholly past it exits at once) and one recording replays for every decode step.
//   mode 0: one part covers the whole context; the output rows are written normalised.
//   mode 1: split context (flash-decoding): part z covers positions [z part_len, (z+1) part_len)
//           and writes (m, l, acc[HD]) per row to partial[t][head][z]; attention_merge.comp
//           combines the parts.
// Per block: S = scale Q K^T (masked past each row's causal end), m' = max(m, max S),
// P = e^(S - m'), l = e^(m - m') l + sum P, acc = e^(m - m') acc + P V. Nothing uses infinity
// (not every device keeps it): masked scores hold NEG and are skipped.
layout(constant_id = 0) const uint WG = 128;  // threads
layout(constant_id = 1) const uint HD = 256;  // head dim, even
layout(constant_id = 2) const uint ROWS = 16; // query rows per workgroup
layout(constant_id = 3) const uint BK = 32;   // positions per online-softmax block
layout(constant_id = 4) const uint F32_CACHE = 0;  // 1: the caches hold float32, 0: fp16
layout(local_size_x_id = 0) in;
const uint HW = HD / 2;                       // pairs of dims per cached row
const uint RW = F32_CACHE != 0 ? HD : HW;     // 32-bit words per cached row
const uint WPT = (HW + WG - 1) / WG;          // pairs of the accumulator per thread
const float NEG = -3.0e38;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer KC { uint k_cache[]; };
layout(std430, binding = 2) readonly buffer VC { uint v_cache[]; };
layout(std430, binding = 3) readonly buffer Pos { int pos[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint n_tokens, n_head, group, heads_per_wg, tokens_per_wg;
  uint capacity, part_len, n_parts;
  uint head0;            // first KV head of this dispatch; the caches are bound from it
  uint q_offset, k_offset, v_offset, pos_offset, o_offset;  // in words
  float scale;
  uint mode;
} p;

shared float qs[ROWS][HD];
shared float ss[ROWS][BK];
shared float m_s[ROWS];
shared float l_s[ROWS];
shared float corr_s[ROWS];

// Dims 2w and 2w + 1 of the cached key or value row that starts at word `row`.
vec2 key_pair(uint row, uint w) {
  if (F32_CACHE != 0) return vec2(uintBitsToFloat(k_cache[row + 2 * w]), uintBitsToFloat(k_cache[row + 2 * w + 1]));
  return unpackHalf2x16(k_cache[row + w]);
}
vec2 value_pair(uint row, uint w) {
  if (F32_CACHE != 0) return vec2(uintBitsToFloat(v_cache[row + 2 * w]), uintBitsToFloat(v_cache[row + 2 * w + 1]));
  return unpackHalf2x16(v_cache[row + w]);
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint head_blocks = p.group / p.heads_per_wg;
  const uint lkv = gl_WorkGroupID.x / head_blocks;  // KV head within the dispatch's binding
  const uint kv_head = p.head0 + lkv;
  const uint head_base = kv_head * p.group + (gl_WorkGroupID.x % head_blocks) * p.heads_per_wg;
  const uint t0 = gl_WorkGroupID.y * p.tokens_per_wg;
  const uint part = gl_WorkGroupID.z;
  const int pos0 = max(pos[p.pos_offset], 0);
  const uint rows = p.heads_per_wg * min(p.tokens_per_wg, p.n_tokens - t0);

  // Keys [j0, j1): this part, up to the causal end of the workgroup's last token.
  const uint j0 = part * p.part_len;
  const uint j1 = min(min(j0 + p.part_len, p.capacity), uint(pos0) + t0 + rows / p.heads_per_wg);
  // A part past the context has nothing to add, and attention_merge.comp does not read it: the
  // whole workgroup leaves before any barrier.
  if (j0 >= j1) return;

  for (uint e = tid; e < ROWS * HD; e += WG) {
    const uint r = e / HD, d = e % HD;
    qs[r][d] = r < rows ? q[p.q_offset + ((t0 + r / p.heads_per_wg) * p.n_head + head_base + r % p.heads_per_wg) * HD + d]
                        : 0.0;
  }
  if (tid < ROWS) {
    m_s[tid] = NEG;
    l_s[tid] = 0.0;
  }
  float acc[ROWS][WPT][2];
  for (uint r = 0; r < ROWS; ++r) {
    for (uint i = 0; i < WPT; ++i) acc[r][i] = float[2](0.0, 0.0);
  }
  barrier();

  const uint kv_base = lkv * p.capacity * RW;
  for (uint jb = j0; jb < j1; jb += BK) {
    for (uint e = tid; e < ROWS * BK; e += WG) {
      const uint r = e / BK, j = jb + e % BK;
      float s = NEG;
      if (r < rows && j < j1 && j <= uint(pos0) + t0 + r / p.heads_per_wg) {
        const uint kb = p.k_offset + kv_base + j * RW;
        float dot = 0.0;
        for (uint w = 0; w < HW; ++w) {
          const vec2 kv = key_pair(kb, w);
          dot += qs[r][2 * w] * kv.x + qs[r][2 * w + 1] * kv.y;
        }
        s = dot * p.scale;
      }
      ss[r][e % BK] = s;
    }
    barrier();
    if (tid < ROWS) {
      float block_max = NEG;
      for (uint c = 0; c < BK; ++c) block_max = max(block_max, ss[tid][c]);
      const float m_old = m_s[tid];
      const float m_new = max(m_old, block_max);
      float corr = 1.0, sum = 0.0;
      if (m_new > NEG) {
        corr = m_old > NEG ? exp(m_old - m_new) : 0.0;
        for (uint c = 0; c < BK; ++c) {
          const float s = ss[tid][c];
          const float pr = s > NEG ? exp(s - m_new) : 0.0;
          ss[tid][c] = pr;
          sum += pr;
        }
      } else {
        for (uint c = 0; c < BK; ++c) ss[tid][c] = 0.0;
      }
      l_s[tid] = l_s[tid] * corr + sum;
      m_s[tid] = m_new;
      corr_s[tid] = corr;
    }
    barrier();
    for (uint i = 0; i < WPT; ++i) {
      const uint w = tid + i * WG;
      if (w >= HW) break;
      for (uint r = 0; r < ROWS; ++r) {
        acc[r][i][0] *= corr_s[r];
        acc[r][i][1] *= corr_s[r];
      }
      const uint n_block = min(BK, j1 - jb);
      for (uint c = 0; c < n_block; ++c) {
        const vec2 vv = value_pair(p.v_offset + kv_base + (jb + c) * RW, w);
        for (uint r = 0; r < ROWS; ++r) {
          const float pr = ss[r][c];
          acc[r][i][0] += pr * vv.x;
          acc[r][i][1] += pr * vv.y;
        }
      }
    }
    barrier();  // ss and corr_s are rewritten by the next block
  }

  for (uint r = 0; r < rows; ++r) {
    const uint t = t0 + r / p.heads_per_wg, h = head_base + r % p.heads_per_wg;
    if (p.mode == 0) {
      const float inv = 1.0 / l_s[r];
      const uint ob = p.o_offset + (t * p.n_head + h) * HD;
      for (uint i = 0; i < WPT; ++i) {
        const uint w = tid + i * WG;
        if (w < HW) {
          o[ob + 2 * w] = acc[r][i][0] * inv;
          o[ob + 2 * w + 1] = acc[r][i][1] * inv;
        }
      }
    } else {
      const uint ob = p.o_offset + ((t * p.n_head + h) * p.n_parts + part) * (HD + 2);
      if (tid == 0) {
        o[ob] = m_s[r];
        o[ob + 1] = l_s[r];
      }
      for (uint i = 0; i < WPT; ++i) {
        const uint w = tid + i * WG;
        if (w < HW) {
          o[ob + 2 + 2 * w] = acc[r][i][0];
          o[ob + 3 + 2 * w] = acc[r][i][1];
        }
      }
    }
  }
}
