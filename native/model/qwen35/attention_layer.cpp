// Softmax attention layer (docs/MODEL.md#gated-full-attention).
// Hybrid archs (qwen35, qwen35moe, qwen3next): attn_q rows interleave per head [q_h | gate_h];
// the output is gated by sigmoid(gate) before attn_output. qwen3 / qwen3moe: plain q rows, no gate.
// Both: per-head RMSNorm of q and k (before RoPE), NEOX RoPE on the first n_rot dims (IMROPE with
// equal text positions is exactly this), causal GQA over the KV cache (F16 or F32), scale 1/sqrt(hd).
#include <cmath>
#include <cstring>

#include "model/qwen35/activations.h"
#include "quant/convert.h"
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void attention_layer(const LayerContext& ctx, int32_t il, const AttentionWeights& w, LayerState& st, const float* x,
                     int64_t first_out, float* out) {
  const Hparams& hp = ctx.hp;
  Backend& be = ctx.backend;
  Workspace::Attention& s = ctx.ws.attn;
  const int64_t n = ctx.n_tokens;
  const int64_t hd = hp.head_dim;
  const int64_t n_head = hp.n_head[static_cast<size_t>(il)];
  const int64_t n_head_kv = hp.n_head_kv[static_cast<size_t>(il)];
  const int64_t q_width = n_head * hd;
  const int64_t kv_width = n_head_kv * hd;

  // Projections: keys and values of every token (the cache), queries of the output rows only.
  const int64_t nq = n - first_out;
  const int64_t qg_width = w.attn_q.view.rows();
  float* qg = scratch(s.qg, nq * qg_width);
  if (nq > 0) be.matmul(w.attn_q.view, x + first_out * hp.n_embd, nq, qg);  // Qcur (with the gate interleaved when gated)
  float* k_raw = scratch(s.k_raw, n * kv_width);
  be.matmul(w.attn_k.view, x, n, k_raw);  // Kcur
  float* v_new = scratch(s.v, n * kv_width);
  be.matmul(w.attn_v.view, x, n, v_new);  // Vcur

  // Split the per-head [q_h | gate_h] rows; ungated q rows are already [n][n_head][hd].
  const float* q_heads = qg;
  float* gate = nullptr;
  if (hp.gated_attention) {
    float* q_raw = scratch(s.q_raw, nq * q_width);
    gate = scratch(s.gate, nq * q_width);
    for (int64_t t = 0; t < nq; ++t) {
      for (int64_t h = 0; h < n_head; ++h) {
        const float* src = qg + t * qg_width + h * 2 * hd;
        std::memcpy(q_raw + (t * n_head + h) * hd, src, static_cast<size_t>(hd) * sizeof(float));
        std::memcpy(gate + (t * n_head + h) * hd, src + hd, static_cast<size_t>(hd) * sizeof(float));
      }
    }
    q_heads = q_raw;
  }

  // Per-head RMSNorm, then RoPE (Qcur_normed / Kcur_normed, then rotated in place).
  float* q = scratch(s.q, nq * q_width);
  if (nq > 0) {
    be.rms_norm(q_heads, w.attn_q_norm.f32, hd, nq * n_head, hp.rms_eps, q);
    be.rope_neox(q, nq, n_head, hd, hp.n_rot, ctx.positions + first_out, hp.rope_freq_base);
  }
  float* k = scratch(s.k, n * kv_width);
  be.rms_norm(k_raw, w.attn_k_norm.f32, hd, n * n_head_kv, hp.rms_eps, k);
  be.rope_neox(k, n, n_head_kv, hd, hp.n_rot, ctx.positions, hp.rope_freq_base);

  // Append this batch's keys and values to the cache (space was reserved by the session), each
  // head to its own run of positions. F16 values are rounded as ggml rounds them (the reference
  // converter).
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < n_head_kv; ++h) {
      const int64_t at = kv_offset(hp, ctx.kv_type, ctx.kv_capacity, h, ctx.pos0 + t);
      const float* k_src = k + t * kv_width + h * hd;
      const float* v_src = v_new + t * kv_width + h * hd;
      if (ctx.kv_type == GgmlType::F32) {
        std::memcpy(st.k.data() + at, k_src, static_cast<size_t>(hd) * sizeof(float));
        std::memcpy(st.v.data() + at, v_src, static_cast<size_t>(hd) * sizeof(float));
      } else {
        quantize_row(GgmlType::F16, k_src, st.k.data() + at, hd);  // cannot fail: F16 takes any width
        quantize_row(GgmlType::F16, v_src, st.v.data() + at, hd);
      }
    }
  }

  if (nq == 0) return;
  // The output rows' queries against the whole cache: token first_out + i sits at position
  // pos0 + first_out + i and sees the positions up to it.
  const AttentionShape shape{static_cast<int32_t>(n_head), static_cast<int32_t>(n_head_kv), static_cast<int32_t>(hd),
                             1.0f / std::sqrt(static_cast<float>(hd))};
  float* kqv_out = scratch(s.kqv_out, nq * q_width);
  be.attention(shape, q, st.k.data(), st.v.data(), ctx.kv_type, ctx.kv_capacity, ctx.pos0 + first_out, nq,
               kqv_out);  // attn_pregate

  if (gate) {
    be.gate_mul(GateActivation::sigmoid, gate, kqv_out, nq * q_width, kqv_out);  // attn_gated
  }
  be.matmul(w.attn_output.view, kqv_out, nq, out);  // attn_output
}

}  // namespace petrel::qwen35
