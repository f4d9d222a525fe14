// delta_net: the gated delta rule of the Gated DeltaNet layers (qwen35-math.md §2.5-2.7).
//
//  1. q and k are l2-normalised per (token, k head) as ggml_l2_norm does (squares in float,
//     summed in double, x * 1/max(sqrt(sum), eps)); q is then scaled by 1/sqrt(d_k). This pass
//     writes both into the shared scratch so that the r = Hv/Hk value heads reading one k head do
//     not normalise it r times.
//  2. Each value head is one task (heads are independent; state is [Hv][d_k][d_v], row i = key
//     dim). Value head p reads k head p / r (grouped, qwen3next) or p % Hk (tiled, qwen35).
//     * n_tokens == 1 (decode): the recurrent step of §2.6, two passes over the state:
//         S *= e^g;  m = S^T k;  delta = beta (v - m);  S += k delta^T;  o = S^T q.
//     * n_tokens > 1 (prefill): the chunked WY form of §2.7 with chunk C = 64, which does the
//       same math as C recurrent steps but with O(C^2) small dots instead of C passes that each
//       read and write the whole state. The last chunk is shorter rather than zero-padded: padded
//       steps have beta = 0 and k = 0, so they add nothing to A, U, W, V' or S, and their
//       outputs would be discarded; truncating gives the identical result.
// Every exponent taken is gamma_i - gamma_j with i >= j, or gamma_i itself, and g <= 0, so
// nothing overflows; strong decay only underflows to 0, which is the right limit.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {
namespace {

constexpr int64_t kChunk = 64;

inline void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

struct HeadArgs {
  const float* qn;  // normalised, scaled q: [n_tokens][Hk][d_k]
  const float* kn;  // normalised k: [n_tokens][Hk][d_k]
  const float* v;
  const float* g;
  const float* beta;
  float* out;
  int64_t n_tokens, hk, hv, dk, dv;
};

// Token-by-token recurrence for value head p reading k head kh. tmp holds d_v floats.
void recurrent_head(const HeadArgs& a, int64_t p, int64_t kh, float* s, float* tmp) {
  const int64_t dk = a.dk, dv = a.dv;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const float* qt = a.qn + (t * a.hk + kh) * dk;
    const float* kt = a.kn + (t * a.hk + kh) * dk;
    const float* vt = a.v + (t * a.hv + p) * dv;
    const float alpha = std::exp(a.g[t * a.hv + p]);
    const float b = a.beta[t * a.hv + p];
    float* ot = a.out + (t * a.hv + p) * dv;

    // Decay, then read the decayed state: m = S'^T k.
    std::memset(tmp, 0, static_cast<size_t>(dv) * sizeof(float));
    for (int64_t i = 0; i < dk; ++i) {
      float* si = s + i * dv;
      for (int64_t j = 0; j < dv; ++j) si[j] *= alpha;
      axpy(kt[i], si, tmp, dv);
    }
    for (int64_t j = 0; j < dv; ++j) tmp[j] = b * (vt[j] - tmp[j]);  // delta
    // Write, then read the updated state: o = S^T q.
    std::memset(ot, 0, static_cast<size_t>(dv) * sizeof(float));
    for (int64_t i = 0; i < dk; ++i) {
      float* si = s + i * dv;
      axpy(kt[i], tmp, si, dv);
      axpy(qt[i], si, ot, dv);
    }
  }
}

// Floats of per-thread scratch the chunked form needs.
size_t chunk_scratch_floats(int64_t dk, int64_t dv) {
  return static_cast<size_t>(3 * kChunk * dk + 2 * kChunk * dv + 2 * kChunk * kChunk + 2 * kChunk);
}

// Chunked (WY) form for value head p reading k head kh; equal to recurrent_head up to rounding.
void chunked_head(const CpuKernels& kern, const HeadArgs& a, int64_t p, int64_t kh, float* s, float* scratch) {
  const int64_t dk = a.dk, dv = a.dv;
  float* kc = scratch;                  // [C][dk] keys of the chunk
  float* qc = kc + kChunk * dk;         // [C][dk] queries
  float* w = qc + kChunk * dk;          // [C][dk] W = T (beta * Gamma * K)
  float* u = w + kChunk * dk;           // [C][dv] U = T (beta * V), then V' = U - W S
  float* o = u + kChunk * dv;           // [C][dv] (Gamma * Q) S, then the chunk output
  float* kk = o + kChunk * dv;          // [C][C] A (strictly lower)
  float* qk = kk + kChunk * kChunk;     // [C][C] (Q K^T) * M (lower incl. diagonal)
  float* gam = qk + kChunk * kChunk;    // [C] cumulative log decay
  float* bet = gam + kChunk;            // [C] beta

  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += kChunk) {
    const int64_t len = std::min(kChunk, a.n_tokens - c0);
    float acc = 0.0f;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t t = c0 + i;
      std::memcpy(kc + i * dk, a.kn + (t * a.hk + kh) * dk, static_cast<size_t>(dk) * sizeof(float));
      std::memcpy(qc + i * dk, a.qn + (t * a.hk + kh) * dk, static_cast<size_t>(dk) * sizeof(float));
      acc += a.g[t * a.hv + p];
      gam[i] = acc;
      bet[i] = a.beta[t * a.hv + p];
    }

    // A_ij = beta_i (k_i . k_j) e^(gamma_i - gamma_j), j < i;  QK_ij = (q_i . k_j) e^(gamma_i - gamma_j), j <= i.
    for (int64_t i = 0; i < len; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        const float decay = std::exp(gam[i] - gam[j]);
        if (j < i) kk[i * kChunk + j] = bet[i] * kern.dot_f32(kc + i * dk, kc + j * dk, dk) * decay;
        qk[i * kChunk + j] = kern.dot_f32(qc + i * dk, kc + j * dk, dk) * decay;
      }
    }

    // (I + A) U = beta V and (I + A) W = beta Gamma K by forward substitution: this applies
    // T = (I + A)^-1 without forming it.
    for (int64_t i = 0; i < len; ++i) {
      const int64_t t = c0 + i;
      float* ui = u + i * dv;
      float* wi = w + i * dk;
      const float* vt = a.v + (t * a.hv + p) * dv;
      const float bg = bet[i] * std::exp(gam[i]);
      for (int64_t j = 0; j < dv; ++j) ui[j] = bet[i] * vt[j];
      for (int64_t j = 0; j < dk; ++j) wi[j] = bg * kc[i * dk + j];
      for (int64_t j = 0; j < i; ++j) {
        const float aij = kk[i * kChunk + j];
        axpy(-aij, u + j * dv, ui, dv);
        axpy(-aij, w + j * dk, wi, dk);
      }
    }

    // With the entering state S: V' = U - W S and o = (Gamma * Q) S, one pass over S's rows.
    std::memset(o, 0, static_cast<size_t>(len * dv) * sizeof(float));
    for (int64_t r = 0; r < dk; ++r) {
      const float* sr = s + r * dv;
      for (int64_t i = 0; i < len; ++i) {
        axpy(-w[i * dk + r], sr, u + i * dv, dv);
        axpy(qc[i * dk + r], sr, o + i * dv, dv);
      }
    }
    // O_i = e^gamma_i (q_i S) + sum_{j <= i} QK_ij V'_j.
    for (int64_t i = 0; i < len; ++i) {
      float* oi = o + i * dv;
      const float gi = std::exp(gam[i]);
      for (int64_t j = 0; j < dv; ++j) oi[j] *= gi;
      for (int64_t j = 0; j <= i; ++j) axpy(qk[i * kChunk + j], u + j * dv, oi, dv);
      std::memcpy(a.out + ((c0 + i) * a.hv + p) * dv, oi, static_cast<size_t>(dv) * sizeof(float));
    }

    // S = e^gamma_last S + sum_j e^(gamma_last - gamma_j) k_j V'_j^T.
    const float g_last = gam[len - 1];
    for (int64_t j = 0; j < len; ++j) bet[j] = std::exp(g_last - gam[j]);  // beta no longer needed
    const float decay_all = std::exp(g_last);
    for (int64_t r = 0; r < dk; ++r) {
      float* sr = s + r * dv;
      for (int64_t j = 0; j < dv; ++j) sr[j] *= decay_all;
      for (int64_t j = 0; j < len; ++j) axpy(bet[j] * kc[j * dk + r], u + j * dv, sr, dv);
    }
  }
}

// x / max(||x||, eps) with the sum of squares in double, times `post`.
void l2_normalise(const float* x, float* y, int64_t n, float eps, float post) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::max(std::sqrt(static_cast<float>(sum)), eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  if (post != 1.0f) {
    for (int64_t i = 0; i < n; ++i) y[i] *= post;
  }
}

}  // namespace

void op_delta_net(OpContext& ctx, const DeltaNetShape& shape, const float* q, const float* k, const float* v,
                  const float* g, const float* beta, float* state, int64_t n_tokens, float* out) {
  const int64_t hk = shape.n_k_heads, hv = shape.n_v_heads, dk = shape.d_k, dv = shape.d_v;
  if (n_tokens <= 0 || hv <= 0 || dv <= 0) return;
  if (hk <= 0 || dk <= 0 || hv % hk != 0) {
    fill_nan(out, n_tokens * hv * dv);
    return;
  }
  const int64_t ratio = hv / hk;
  const int64_t n_rows = n_tokens * hk;

  float* qn = ctx.scratch.shared_buffer(static_cast<size_t>(2 * n_rows * dk));
  float* kn = qn + n_rows * dk;
  const float q_scale = 1.0f / std::sqrt(static_cast<float>(dk));
  const float eps = shape.eps;
  ctx.pool.parallel_for(n_rows, grain_for(ctx.pool, n_rows, 4 * dk), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      l2_normalise(q + r * dk, qn + r * dk, dk, eps, q_scale);
      l2_normalise(k + r * dk, kn + r * dk, dk, eps, 1.0f);
    }
  });

  const HeadArgs args{qn, kn, v, g, beta, out, n_tokens, hk, hv, dk, dv};
  const CpuKernels& kern = ctx.kernels;
  Scratch& scratch = ctx.scratch;
  const bool grouped = shape.grouped_heads;
  // One head per chunk (a head is a lot of work), unless the whole op is tiny.
  const int64_t head_work = 4 * dk * dv * n_tokens;
  ctx.pool.parallel_for(hv, head_work >= 32768 ? 1 : grain_for(ctx.pool, hv, head_work), [&](int64_t begin, int64_t end, int tid) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t kh = grouped ? p / ratio : p % hk;
      float* s = state + p * dk * dv;
      if (n_tokens == 1) {
        recurrent_head(args, p, kh, s, scratch.thread_buffer(tid, static_cast<size_t>(dv)));
      } else {
        chunked_head(kern, args, p, kh, s, scratch.thread_buffer(tid, chunk_scratch_floats(dk, dv)));
      }
    }
  });
}

}  // namespace petrel::cpu
