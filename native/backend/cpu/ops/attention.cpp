// Causal GQA softmax attention over float32 KV caches.
//
// The unit of work is (query token, kv head): the `group` query heads that share a kv head are
// processed together, so every cached key and value row is read once per group rather than once
// per query head. Inside a unit, keys are visited in blocks of kSub positions with an online
// softmax in float (running max m, running sum l, unnormalised accumulator acc), so scratch does
// not grow with the context length.
//
// Decode has only n_head_kv units, too few for the threads, so when units are scarce each unit's
// context is cut into parts (flash-decoding): phase 1 computes (m, l, acc) per part, phase 2
// merges the parts in order. How many parts depends only on the shape, never on the thread
// count, so results are bit-identical for any number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {
namespace {

constexpr int64_t kSub = 128;           // positions per online-softmax step
constexpr int64_t kTargetUnits = 256;   // split contexts until about this many work items exist

struct AttnArgs {
  const float* q;
  const float* k_cache;
  const float* v_cache;
  int64_t n_head, head_dim, group, kv_stride;
  float scale;
};

// Online softmax of the `group` query heads starting at q_group over cached positions [j0, j1)
// of kv head kvh. acc: [group][head_dim] (overwritten), m and l: [group]. scores: group * kSub.
void attend_range(const CpuKernels& kern, const AttnArgs& a, const float* q_group, int64_t kvh, int64_t j0, int64_t j1,
                  float* acc, float* m, float* l, float* scores) {
  const int64_t hd = a.head_dim, group = a.group;
  std::memset(acc, 0, static_cast<size_t>(group * hd) * sizeof(float));
  for (int64_t h = 0; h < group; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
  }
  const float* kbase = a.k_cache + kvh * hd;
  const float* vbase = a.v_cache + kvh * hd;
  for (int64_t jb = j0; jb < j1; jb += kSub) {
    const int64_t len = std::min(kSub, j1 - jb);
    for (int64_t j = 0; j < len; ++j) {
      const float* kj = kbase + (jb + j) * a.kv_stride;
      for (int64_t h = 0; h < group; ++h) scores[h * kSub + j] = kern.dot_f32(q_group + h * hd, kj, hd) * a.scale;
    }
    for (int64_t h = 0; h < group; ++h) {
      float* s = scores + h * kSub;
      float block_max = s[0];
      for (int64_t j = 1; j < len; ++j) block_max = std::max(block_max, s[j]);
      const float new_m = std::max(m[h], block_max);
      const float correction = std::exp(m[h] - new_m);  // 0 on the first block (m = -inf)
      if (correction != 1.0f) {
        float* acc_h = acc + h * hd;
        for (int64_t d = 0; d < hd; ++d) acc_h[d] *= correction;
      }
      float sum = l[h] * correction;
      for (int64_t j = 0; j < len; ++j) {
        s[j] = std::exp(s[j] - new_m);
        sum += s[j];
      }
      l[h] = sum;
      m[h] = new_m;
    }
    for (int64_t j = 0; j < len; ++j) {
      const float* vj = vbase + (jb + j) * a.kv_stride;
      for (int64_t h = 0; h < group; ++h) {
        const float p = scores[h * kSub + j];
        float* acc_h = acc + h * hd;
        for (int64_t d = 0; d < hd; ++d) acc_h[d] += p * vj[d];
      }
    }
  }
}

}  // namespace

void op_attention(OpContext& ctx, const AttentionShape& shape, const float* q, const float* k_cache,
                  const float* v_cache, int64_t pos0, int64_t n_tokens, float* out) {
  const int64_t n_head = shape.n_head;
  const int64_t n_head_kv = shape.n_head_kv;
  const int64_t hd = shape.head_dim;
  if (n_tokens <= 0 || n_head <= 0 || hd <= 0) return;
  if (n_head_kv <= 0 || n_head % n_head_kv != 0 || pos0 < 0) {
    fill_nan(out, n_tokens * n_head * hd);
    return;
  }
  const AttnArgs a{q, k_cache, v_cache, n_head, hd, n_head / n_head_kv, n_head_kv * hd, shape.scale};
  const int64_t group = a.group;
  const int64_t n_pos = pos0 + n_tokens;
  const int64_t units = n_tokens * n_head_kv;

  // Parts per unit: enough work items for any thread count, parts of whole kSub blocks.
  int64_t n_parts = std::min((n_pos + kSub - 1) / kSub, std::max<int64_t>(1, kTargetUnits / units));
  int64_t part_len = (n_pos + n_parts - 1) / n_parts;
  part_len = (part_len + kSub - 1) / kSub * kSub;
  n_parts = (n_pos + part_len - 1) / part_len;

  const CpuKernels& kern = ctx.kernels;
  Scratch& scratch = ctx.scratch;
  const size_t thread_floats = static_cast<size_t>(group * kSub + 2 * group);
  const int64_t unit_work = std::min(n_pos, part_len) * hd * group * 2;
  const int64_t grain = unit_work >= 32768 ? 1 : grain_for(ctx.pool, units * n_parts, unit_work);

  if (n_parts == 1) {
    // One pass per unit over its whole causal context.
    ctx.pool.parallel_for(units, grain, [&](int64_t begin, int64_t end, int tid) {
      float* scores = scratch.thread_buffer(tid, thread_floats + static_cast<size_t>(group * hd));
      float* m = scores + group * kSub;
      float* l = m + group;
      float* acc = l + group;  // not out itself: out may alias q
      for (int64_t u = begin; u < end; ++u) {
        const int64_t t = u / n_head_kv, kvh = u % n_head_kv;
        const int64_t first = (t * n_head + kvh * group) * hd;
        attend_range(kern, a, q + first, kvh, 0, pos0 + t + 1, acc, m, l, scores);
        for (int64_t h = 0; h < group; ++h) {
          const float inv = 1.0f / l[h];
          for (int64_t d = 0; d < hd; ++d) out[first + h * hd + d] = acc[h * hd + d] * inv;
        }
      }
    });
    return;
  }

  // Phase 1: per (unit, part) partial results [unit][part][group] x (m, l, acc[hd]).
  const int64_t rec = hd + 2;
  float* partial = scratch.shared_buffer(static_cast<size_t>(units * n_parts * group * rec));
  ctx.pool.parallel_for(units * n_parts, grain, [&](int64_t begin, int64_t end, int tid) {
    float* scores = scratch.thread_buffer(tid, thread_floats + static_cast<size_t>(group * hd));
    float* m = scores + group * kSub;
    float* l = m + group;
    float* acc = l + group;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t u = task / n_parts, part = task % n_parts;
      const int64_t t = u / n_head_kv, kvh = u % n_head_kv;
      const int64_t j0 = part * part_len;
      const int64_t j1 = std::min(pos0 + t + 1, j0 + part_len);  // causal end of this query
      const int64_t first = (t * n_head + kvh * group) * hd;
      attend_range(kern, a, q + first, kvh, j0, std::max(j0, j1), acc, m, l, scores);
      float* dst = partial + task * group * rec;
      for (int64_t h = 0; h < group; ++h) {
        dst[h * rec] = m[h];
        dst[h * rec + 1] = l[h];
        std::memcpy(dst + h * rec + 2, acc + h * hd, static_cast<size_t>(hd) * sizeof(float));
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
