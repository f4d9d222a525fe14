// Causal GQA softmax attention over F16 or F32 KV caches, as dense products, and kv_store, which
// writes a batch's keys and values into those caches.
// The caches are head-major ([n_head_kv][kv_capacity][head_dim]): a unit reads one contiguous run
// of keys and one of values, which the hardware prefetchers follow (with the cache position-major,
// each head's rows alternated with the other heads' and decode at depth read memory more slowly; docs/PERFORMANCE.md#single-kernels).
//
// The unit of work is (block of query tokens, kv head): the block's tokens times the `group`
// query heads sharing that kv head form the rows of one query matrix Q (at most kMaxRows), so
// every cached key and value row is read once per unit and used by all its rows. Keys are
// visited in blocks of kSub positions with an online softmax (running max m, running sum l,
// unnormalised accumulator acc per row):
//     S = scale Q K_blk^T (CpuKernels::gemm_nt_f32), causal mask, P = e^(S - m_new),
//     acc = e^(m - m_new) acc + P V_blk (CpuKernels::gemm_f32),
// so scratch does not grow with the context length. An F16 cache is read by the fp16 variants of
// the two products, which convert each value exactly as they load it.
//
// Decode has only n_head_kv units, too few for the threads, so when units are scarce each unit's
// context is cut into parts (flash-decoding): phase 1 computes (m, l, acc) per part, phase 2
// merges the parts in order. How many parts depends only on the shape, never on the thread
// count, so results are bit-identical for any number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/ops/ops.h"
#include "quant/convert.h"

namespace petrel::cpu {
namespace {

constexpr int64_t kSub = 128;           // positions per online-softmax step
constexpr int64_t kMaxRows = 64;        // query rows (tokens x group heads) per unit
constexpr int64_t kTargetUnits = 256;   // split contexts until about this many work items exist
constexpr int64_t kFewRows = 16;        // decode-sized units, whose values stream from memory
constexpr int64_t kFirstValueRows = 16; // value rows fetched before the scores

struct AttnArgs {
  const float* q;
  const void* k_cache;
  const void* v_cache;
  bool f16;  // else float32
  int64_t n_head, head_dim, group, head_stride, pos0;  // head_stride: elements from one KV head to the next
  float scale;
};

// Per-thread scratch of one unit: Q rows, scores, and the running (m, l, acc) of each row.
struct UnitScratch {
  float* q;    // [rows][hd]
  float* s;    // [rows][kSub]
  float* acc;  // [rows][hd]
  float* m;    // [rows]
  float* l;    // [rows]
  static size_t floats(int64_t hd) { return static_cast<size_t>(kMaxRows * (2 * hd + kSub + 2)); }
  UnitScratch(float* base, int64_t hd) {
    q = base;
    s = q + kMaxRows * hd;
    acc = s + kMaxRows * kSub;
    m = acc + kMaxRows * hd;
    l = m + kMaxRows;
  }
};

// Online softmax of query tokens [t0, t0 + nt) (all `group` heads of kv head kvh) over cached
// positions [j0, j1). Row r is token t0 + r / group, head kvh * group + r % group; it sees
// positions up to pos0 + its token (causal). Leaves (m, l, acc) per row in `u`.
void attend_range(const CpuKernels& kern, const AttnArgs& a, int64_t t0, int64_t nt, int64_t kvh, int64_t j0, int64_t j1,
                  UnitScratch& u) {
  const int64_t hd = a.head_dim, group = a.group, rows = nt * group;
  for (int64_t i = 0; i < nt; ++i) {
    const float* src = a.q + ((t0 + i) * a.n_head + kvh * group) * hd;  // the group's rows are contiguous
    std::memcpy(u.q + i * group * hd, src, static_cast<size_t>(group * hd) * sizeof(float));
  }
  std::memset(u.acc, 0, static_cast<size_t>(rows * hd) * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    u.m[r] = -INFINITY;
    u.l[r] = 0.0f;
  }
  for (int64_t jb = j0; jb < j1; jb += kSub) {
    const int64_t len = std::min(kSub, j1 - jb);
    const int64_t first = kvh * a.head_stride + jb * hd;  // this block's first key / value element
    if (rows <= kFewRows) {
      // Decode: the score product fetches keys ahead as it goes, and P V the next rows of values, but
      // nothing fetches the block's first values: start them now, under the scores.
      const int64_t elem = a.f16 ? 2 : 4;
      const auto* v0 = static_cast<const char*>(a.v_cache) + first * elem;
      for (int64_t off = 0; off < kFirstValueRows * hd * elem; off += 64) __builtin_prefetch(v0 + off, 0, 3);
    }
    if (a.f16) {
      kern.gemm_nt_f32_f16(rows, len, hd, a.scale, u.q, hd, static_cast<const uint16_t*>(a.k_cache) + first, hd, u.s,
                           kSub);
    } else {
      kern.gemm_nt_f32(rows, len, hd, a.scale, u.q, hd, static_cast<const float*>(a.k_cache) + first, hd, u.s, kSub);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* s = u.s + r * kSub;
      const int64_t visible = std::min(len, a.pos0 + t0 + r / group + 1 - jb);  // causal end in this block
      if (visible <= 0) {
        std::fill(s, s + len, 0.0f);  // nothing visible: contributes no weight
        continue;
      }
      float block_max = s[0];
      for (int64_t j = 1; j < visible; ++j) block_max = std::max(block_max, s[j]);
      const float new_m = std::max(u.m[r], block_max);
      const float correction = std::exp(u.m[r] - new_m);  // 0 on the first block (m = -inf)
      if (correction != 1.0f) {
        float* acc_r = u.acc + r * hd;
        for (int64_t d = 0; d < hd; ++d) acc_r[d] *= correction;
      }
      u.l[r] = u.l[r] * correction + kern.exp_shift_sum_f32(s, new_m, visible, s);
      u.m[r] = new_m;
      std::fill(s + visible, s + len, 0.0f);
    }
    if (a.f16) {
      kern.gemm_f32_f16(rows, hd, len, 1.0f, u.s, kSub, static_cast<const uint16_t*>(a.v_cache) + first, hd, 1.0f, u.acc,
                        hd);
    } else {
      kern.gemm_f32(rows, hd, len, 1.0f, u.s, kSub, static_cast<const float*>(a.v_cache) + first, hd, 1.0f, u.acc, hd);
    }
  }
}

}  // namespace

void op_kv_store(OpContext& ctx, const Tensor& x, const Tensor& cache, const int32_t* positions) {
  const int64_t hd = x.ne[0], n_head_kv = x.ne[1], n_tokens = x.ne[2];
  const bool f16 = cache.type == GgmlType::F16;
  ctx.pool.parallel_for(n_tokens, grain_for(ctx.pool, n_tokens, n_head_kv * hd), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t h = 0; h < n_head_kv; ++h) {
        const auto* src = reinterpret_cast<const float*>(host_row(x, t * n_head_kv + h));
        uint8_t* dst = static_cast<uint8_t*>(cache.storage) + cache.row_offset(positions[t], h);
        if (f16) {
          quantize_row(GgmlType::F16, src, dst, hd);  // cannot fail: F16 takes any width; rounds as ggml does
        } else {
          std::memcpy(dst, src, static_cast<size_t>(hd) * sizeof(float));
        }
      }
    }
  });
}

void op_attention(OpContext& ctx, const AttentionShape& shape, const float* q, const void* k_cache,
                  const void* v_cache, GgmlType kv_type, int64_t kv_capacity, int64_t pos0, int64_t n_tokens,
                  float* out) {
  const int64_t n_head = shape.n_head;
  const int64_t n_head_kv = shape.n_head_kv;
  const int64_t hd = shape.head_dim;
  if (n_tokens <= 0 || n_head <= 0 || hd <= 0) return;
  if (n_head_kv <= 0 || n_head % n_head_kv != 0 || pos0 < 0 || kv_capacity < pos0 + n_tokens ||
      (kv_type != GgmlType::F16 && kv_type != GgmlType::F32)) {
    fill_nan(out, n_tokens * n_head * hd);
    return;
  }
  const int64_t group = n_head / n_head_kv;
  const AttnArgs a{q, k_cache, v_cache, kv_type == GgmlType::F16, n_head, hd, group, kv_capacity * hd, pos0, shape.scale};
  const int64_t n_pos = pos0 + n_tokens;
  const int64_t tokens_per_unit = std::max<int64_t>(1, kMaxRows / group);
  const int64_t n_tblocks = (n_tokens + tokens_per_unit - 1) / tokens_per_unit;
  const int64_t units = n_tblocks * n_head_kv;

  // Parts per unit: enough work items for any thread count, parts of whole kSub blocks.
  int64_t n_parts = std::min((n_pos + kSub - 1) / kSub, std::max<int64_t>(1, kTargetUnits / units));
  int64_t part_len = (n_pos + n_parts - 1) / n_parts;
  part_len = (part_len + kSub - 1) / kSub * kSub;
  n_parts = (n_pos + part_len - 1) / part_len;

  const CpuKernels& kern = ctx.kernels;
  Scratch& scratch = ctx.scratch;
  const int64_t unit_work = std::min(n_pos, part_len) * hd * std::min(n_tokens, tokens_per_unit) * group * 2;
  const int64_t grain = unit_work >= 32768 ? 1 : grain_for(ctx.pool, units * n_parts, unit_work);
  auto unit_tokens = [&](int64_t tb, int64_t* t0, int64_t* nt) {
    *t0 = tb * tokens_per_unit;
    *nt = std::min(tokens_per_unit, n_tokens - *t0);
  };

  if (n_parts == 1) {
    // One pass per unit over its whole causal context.
    ctx.pool.parallel_for(units, grain, [&](int64_t begin, int64_t end, int tid) {
      UnitScratch u(scratch.thread_buffer(tid, UnitScratch::floats(hd)), hd);
      for (int64_t unit = begin; unit < end; ++unit) {
        int64_t t0 = 0, nt = 0;
        unit_tokens(unit / n_head_kv, &t0, &nt);
        const int64_t kvh = unit % n_head_kv;
        attend_range(kern, a, t0, nt, kvh, 0, pos0 + t0 + nt, u);
        for (int64_t r = 0; r < nt * group; ++r) {
          float* dst = out + ((t0 + r / group) * n_head + kvh * group + r % group) * hd;
          const float inv = 1.0f / u.l[r];
          for (int64_t d = 0; d < hd; ++d) dst[d] = u.acc[r * hd + d] * inv;
        }
      }
    });
    return;
  }

  // Phase 1: per (token, kv head, part) partial results [group] x (m, l, acc[hd]).
  const int64_t rec = hd + 2;
  float* partial = scratch.shared_buffer(static_cast<size_t>(n_tokens * n_head_kv * n_parts * group * rec));
  ctx.pool.parallel_for(units * n_parts, grain, [&](int64_t begin, int64_t end, int tid) {
    UnitScratch u(scratch.thread_buffer(tid, UnitScratch::floats(hd)), hd);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t unit = task / n_parts, part = task % n_parts;
      int64_t t0 = 0, nt = 0;
      unit_tokens(unit / n_head_kv, &t0, &nt);
      const int64_t kvh = unit % n_head_kv;
      const int64_t j0 = part * part_len;
      const int64_t j1 = std::min(pos0 + t0 + nt, j0 + part_len);  // causal end of the unit's last token
      attend_range(kern, a, t0, nt, kvh, j0, std::max(j0, j1), u);
      for (int64_t r = 0; r < nt * group; ++r) {
        const int64_t t = t0 + r / group;
        float* dst = partial + (((t * n_head_kv + kvh) * n_parts + part) * group + r % group) * rec;
        dst[0] = u.m[r];
        dst[1] = u.l[r];
        std::memcpy(dst + 2, u.acc + r * hd, static_cast<size_t>(hd) * sizeof(float));
      }
    }
  });

  // Phase 2: merge the parts of each (token, head) in part order.
  ctx.pool.parallel_for(n_tokens * n_head, grain_for(ctx.pool, n_tokens * n_head, n_parts * hd), [&](int64_t begin,
                                                                                                    int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t t = task / n_head, h = task % n_head;
      const int64_t kvh = h / group, hg = h % group;
      const float* base = partial + ((t * n_head_kv + kvh) * n_parts) * group * rec + hg * rec;
      float max_m = -INFINITY;
      for (int64_t p = 0; p < n_parts; ++p) {
        const float* r = base + p * group * rec;
        if (r[1] > 0.0f) max_m = std::max(max_m, r[0]);
      }
      float* o = out + task * hd;
      std::memset(o, 0, static_cast<size_t>(hd) * sizeof(float));
      float sum = 0.0f;
      for (int64_t p = 0; p < n_parts; ++p) {
        const float* r = base + p * group * rec;
        if (!(r[1] > 0.0f)) continue;  // part entirely after this query's causal end
        const float w = std::exp(r[0] - max_m);
        sum += w * r[1];
        for (int64_t d = 0; d < hd; ++d) o[d] += w * r[2 + d];
      }
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < hd; ++d) o[d] *= inv;
    }
  });
}

}  // namespace petrel::cpu
