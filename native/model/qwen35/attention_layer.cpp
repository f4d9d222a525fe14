// Softmax attention layer (docs/MODEL.md#gated-full-attention).
// Hybrid archs (qwen35, qwen35moe, qwen3next): attn_q rows interleave per head [q_h | gate_h];
// the output is gated by sigmoid(gate) before attn_output. qwen3 / qwen3moe: plain q rows, no gate.
// Both: per-head RMSNorm of q and k (before RoPE), NEOX RoPE on the first n_rot dims (IMROPE with
// equal text positions is exactly this), causal GQA over the KV cache (F16 or F32), scale 1/sqrt(hd).
#include <cmath>

#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void attention_layer(const LayerContext& ctx, int32_t il, const AttentionWeights& w, LayerState& st, const Tensor& x,
                     int64_t first_out, const Tensor& out) {
  const Hparams& hp = ctx.hp;
  Backend& be = ctx.backend;
  Workspace::Attention& s = ctx.ws.attn;
  const int64_t n = ctx.n_tokens;
  const int64_t hd = hp.head_dim;
  const int64_t n_head = hp.n_head[static_cast<size_t>(il)];
  const int64_t n_head_kv = hp.n_head_kv[static_cast<size_t>(il)];

  // Projections: keys and values of every token (the cache), queries of the output rows only.
  const int64_t nq = n - first_out;
  const Tensor q_positions = ctx.positions.slice(0, first_out, nq);
  const int64_t qg_width = w.attn_q.view.rows();
  const Tensor qg = s.qg.view(qg_width, nq);
  if (nq > 0) be.matmul(w.attn_q.view, x.slice(1, first_out, nq), qg);  // Qcur (with the gate interleaved when gated)
  const Tensor k_raw = s.k_raw.view(hd, n_head_kv, n);
  be.matmul(w.attn_k.view, x, k_raw.reshape(n_head_kv * hd, n));  // Kcur
  const Tensor v = s.v.view(hd, n_head_kv, n);
  be.matmul(w.attn_v.view, x, v.reshape(n_head_kv * hd, n));  // Vcur

  // The per-head [q_h | gate_h] rows are read in place: q_h the first hd values of each head's
  // 2·hd, gate_h the rest. Ungated q rows are already {hd, n_head, nq}.
  const Tensor q_heads = hp.gated_attention ? qg.reshape(2 * hd, n_head, nq).slice(0, 0, hd) : qg.reshape(hd, n_head, nq);

  // Per-head RMSNorm, then RoPE (Qcur_normed / Kcur_normed, then rotated in place).
  const Tensor q = s.q.view(hd, n_head, nq);
  if (nq > 0) {
    be.rms_norm(q_heads, w.attn_q_norm.tensor, hp.rms_eps, q);
    be.rope_neox(q, q_positions, hp.n_rot, hp.rope_freq_base);
  }
  const Tensor k = s.k.view(hd, n_head_kv, n);
  be.rms_norm(k_raw, w.attn_k_norm.tensor, hp.rms_eps, k);
  be.rope_neox(k, ctx.positions, hp.n_rot, hp.rope_freq_base);

  // This batch's keys and values into the cache at their positions (space was reserved by the
  // session), each head to its own run of positions.
  be.kv_store(k, st.k.tensor(), ctx.positions);
  be.kv_store(v, st.v.tensor(), ctx.positions);

  if (nq == 0) return;
  // The output rows' queries against the whole cache: each sees the positions up to its own.
  const AttentionShape shape{static_cast<int32_t>(n_head), static_cast<int32_t>(n_head_kv), static_cast<int32_t>(hd),
                             1.0f / std::sqrt(static_cast<float>(hd))};
  const Tensor kqv_out = s.kqv_out.view(hd, n_head, nq);
  be.attention(shape, q, st.k.tensor(), st.v.tensor(), q_positions, kqv_out);  // attn_pregate
  if (hp.gated_attention) {
    be.gate_mul(GateActivation::sigmoid, qg.reshape(2 * hd, n_head, nq).slice(0, hd, hd), kqv_out, kqv_out);  // attn_gated
  }
  be.matmul(w.attn_output.view, kqv_out.reshape(n_head * hd, nq), out);  // attn_output
}

}  // namespace petrel::qwen35
