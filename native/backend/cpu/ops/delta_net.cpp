// delta_net: the gated delta rule of the Gated DeltaNet layers (docs/MODEL.md#gated-deltanet-layer).
//
//  1. q and k are l2-normalised per (token, k head) as ggml_l2_norm does (squares in float,
//     summed in double, x * 1/max(sqrt(sum), eps)); q is then scaled by 1/sqrt(d_k). This pass
//     writes both into the shared scratch so that the r = Hv/Hk value heads reading one k head do
//     not normalise it r times. q, k and v are read in place as columns of the conv output.
//  2. Each value head is one task (heads are independent; state is [Hv][d_k][d_v], row i = key
//     dim). Value head p reads k head p / r (grouped, qwen3next) or p % Hk (tiled, qwen35).
//     * n_tokens == 1 (decode): the recurrent step (docs/MODEL.md#delta-rule), fused so the
//       state is read and written once (CpuKernels::delta_step_f32):
//         m = e^g S^T k;  delta = beta (v - m);  S = e^g S + k delta^T;  o = S^T q.
//     * n_tokens > 1 (prefill): the chunked WY form (docs/MODEL.md#chunked-form), chunk
//       C = 64, which does the same math as C recurrent steps but with O(C^2) small dots instead
//       of C passes that each read and write the whole state. The last chunk is shorter rather
//       than zero-padded: padded steps have beta = 0 and k = 0, so they add nothing to A, U, W,
//       V' or S, and their outputs would be discarded; truncating gives the identical result.
// Every exponent taken is gamma_i - gamma_j with i >= j, or gamma_i itself, and g <= 0, so
// nothing overflows; strong decay only underflows to 0, which is the right limit.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {
namespace {

constexpr int64_t kChunk = 64;

struct HeadArgs {
  const float* qn;  // normalised, scaled q: [n_tokens][Hk][d_k]
  const float* kn;  // normalised k: [n_tokens][Hk][d_k]
  const float* v;   // head p of token t at v + t * v_token + p * v_head
  const float* g;
  const float* beta;
  float* out;
  int64_t n_tokens, hk, hv, dk, dv;
  int64_t v_token, v_head;  // floats
};

// Token-by-token recurrence for value head p reading k head kh, one fused step per token.
void recurrent_head(const CpuKernels& kern, const HeadArgs& a, int64_t p, int64_t kh, float* s) {
  const int64_t dk = a.dk, dv = a.dv;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    kern.delta_step_f32(s, dk, dv, a.qn + (t * a.hk + kh) * dk, a.kn + (t * a.hk + kh) * dk,
                        a.v + t * a.v_token + p * a.v_head, std::exp(a.g[t * a.hv + p]), a.beta[t * a.hv + p],
                        a.out + (t * a.hv + p) * dv);
  }
}

// Per-thread scratch of the chunked form (floats).
struct ChunkScratch {
  float* kt;   // [dk][C] keys of the chunk, transposed; later scaled by e^(gamma_last - gamma_j)
  float* qk;   // [C][C] (Q K^T) * decay mask, lower incl. diagonal
  float* a;    // [C][C] K K^T, then A = beta * decay mask * K K^T (strictly lower)
  float* t;    // [C][C] T = (I + A)^-1
  float* ub;   // [C][dv] beta V
  float* u;    // [C][dv] U = T beta V, then V' = U - W S
  float* wb;   // [C][dk] beta Gamma K
  float* w;    // [C][dk] W = T beta Gamma K
  float* o;    // [C][dv] chunk output
  float* gam;  // [C] cumulative log decay
  float* bet;  // [C] beta

  static size_t floats(int64_t dk, int64_t dv) {
    return static_cast<size_t>(dk * kChunk + 3 * kChunk * kChunk + 3 * kChunk * dv + 2 * kChunk * dk + 2 * kChunk);
  }
  ChunkScratch(float* base, int64_t dk, int64_t dv) {
    kt = base;
    qk = kt + dk * kChunk;
    a = qk + kChunk * kChunk;
    t = a + kChunk * kChunk;
    ub = t + kChunk * kChunk;
    u = ub + kChunk * dv;
    wb = u + kChunk * dv;
    w = wb + kChunk * dk;
    o = w + kChunk * dk;
    gam = o + kChunk * dv;
    bet = gam + kChunk;
  }
};

// Chunked (WY) form for value head p reading k head kh; equal to recurrent_head up to rounding.
// Every step is a dense product of chunk-sized matrices (CpuKernels::gemm_f32); only the decay
// masks and the inverse of the unit lower-triangular I + A are element by element.
void chunked_head(const CpuKernels& kern, const HeadArgs& a, int64_t p, int64_t kh, float* s, float* base) {
  const int64_t dk = a.dk, dv = a.dv;
  const int64_t k_stride = a.hk * dk;  // between tokens in qn / kn
  ChunkScratch sc(base, dk, dv);
  const int64_t C = kChunk;

  for (int64_t c0 = 0; c0 < a.n_tokens; c0 += C) {
    const int64_t len = std::min(C, a.n_tokens - c0);
    const float* kc = a.kn + (c0 * a.hk + kh) * dk;  // row i at kc + i * k_stride
    const float* qc = a.qn + (c0 * a.hk + kh) * dk;
    float acc = 0.0f;
    for (int64_t i = 0; i < len; ++i) {
      acc += a.g[(c0 + i) * a.hv + p];
      sc.gam[i] = acc;
      sc.bet[i] = a.beta[(c0 + i) * a.hv + p];
      for (int64_t r = 0; r < dk; ++r) sc.kt[r * C + i] = kc[i * k_stride + r];
    }

    // QK_ij = (q_i . k_j) e^(gamma_i - gamma_j), j <= i;  A_ij = beta_i (k_i . k_j) e^(gamma_i - gamma_j), j < i.
    kern.gemm_f32(len, len, dk, 1.0f, qc, k_stride, sc.kt, C, 0.0f, sc.qk, C);
    kern.gemm_f32(len, len, dk, 1.0f, kc, k_stride, sc.kt, C, 0.0f, sc.a, C);
    for (int64_t i = 0; i < len; ++i) {
      for (int64_t j = 0; j < len; ++j) {
        const float decay = j <= i ? std::exp(sc.gam[i] - sc.gam[j]) : 0.0f;
        sc.qk[i * C + j] *= decay;
        sc.a[i * C + j] = j < i ? sc.bet[i] * sc.a[i * C + j] * decay : 0.0f;
      }
    }

    // T = (I + A)^-1 by forward substitution, row i from the rows above it:
    // T_i,<i = -A_i,<i T_<i,<i (T is unit lower triangular).
    for (int64_t i = 0; i < len; ++i) {
      float* ti = sc.t + i * C;
      if (i > 0) kern.gemm_f32(1, i, i, -1.0f, sc.a + i * C, C, sc.t, C, 0.0f, ti, C);
      ti[i] = 1.0f;
      for (int64_t j = i + 1; j < len; ++j) ti[j] = 0.0f;
    }

    // U = T (beta V), W = T (beta Gamma K).
    for (int64_t i = 0; i < len; ++i) {
      const float* vt = a.v + (c0 + i) * a.v_token + p * a.v_head;
      const float bg = sc.bet[i] * std::exp(sc.gam[i]);
      for (int64_t j = 0; j < dv; ++j) sc.ub[i * dv + j] = sc.bet[i] * vt[j];
      for (int64_t j = 0; j < dk; ++j) sc.wb[i * dk + j] = bg * kc[i * k_stride + j];
    }
    kern.gemm_f32(len, dv, len, 1.0f, sc.t, C, sc.ub, dv, 0.0f, sc.u, dv);
    kern.gemm_f32(len, dk, len, 1.0f, sc.t, C, sc.wb, dk, 0.0f, sc.w, dk);

    // With the entering state S: V' = U - W S and o = e^gamma (Q S) + QK V'.
    kern.gemm_f32(len, dv, dk, -1.0f, sc.w, dk, s, dv, 1.0f, sc.u, dv);
    kern.gemm_f32(len, dv, dk, 1.0f, qc, k_stride, s, dv, 0.0f, sc.o, dv);
    for (int64_t i = 0; i < len; ++i) {
      const float gi = std::exp(sc.gam[i]);
      for (int64_t j = 0; j < dv; ++j) sc.o[i * dv + j] *= gi;
    }
    kern.gemm_f32(len, dv, len, 1.0f, sc.qk, C, sc.u, dv, 1.0f, sc.o, dv);
    for (int64_t i = 0; i < len; ++i) {
      std::memcpy(a.out + ((c0 + i) * a.hv + p) * dv, sc.o + i * dv, static_cast<size_t>(dv) * sizeof(float));
    }

    // S = e^gamma_last S + sum_j e^(gamma_last - gamma_j) k_j V'_j^T.
    const float g_last = sc.gam[len - 1];
    for (int64_t j = 0; j < len; ++j) sc.bet[j] = std::exp(g_last - sc.gam[j]);  // beta no longer needed
    for (int64_t r = 0; r < dk; ++r) {
      for (int64_t j = 0; j < len; ++j) sc.kt[r * C + j] *= sc.bet[j];
    }
    kern.gemm_f32(dk, dv, len, 1.0f, sc.kt, C, sc.u, dv, std::exp(g_last), s, dv);
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

void op_delta_net(OpContext& ctx, const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v,
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
      l2_normalise(reinterpret_cast<const float*>(host_row(q, r)), qn + r * dk, dk, eps, q_scale);
      l2_normalise(reinterpret_cast<const float*>(host_row(k, r)), kn + r * dk, dk, eps, 1.0f);
    }
  });

  const HeadArgs args{qn, kn, host_f32(v), g, beta, out, n_tokens, hk, hv, dk, dv,
                      static_cast<int64_t>(v.nb[2] / sizeof(float)), static_cast<int64_t>(v.nb[1] / sizeof(float))};
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
        recurrent_head(kern, args, p, kh, s);
      } else {
        chunked_head(kern, args, p, kh, s, scratch.thread_buffer(tid, ChunkScratch::floats(dk, dv)));
      }
    }
  });
}

}  // namespace petrel::cpu
