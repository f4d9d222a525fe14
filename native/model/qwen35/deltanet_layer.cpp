// Gated DeltaNet layer (docs/MODEL.md#gated-deltanet-layer): fused QKV projection, causal depthwise conv + SiLU
// over a rolling history, per-head decay g = ssm_a · softplus(α + dt_bias) and β = sigmoid(b),
// the gated delta rule (the backend l2-normalises q/k, pairs V heads with K heads tiled or grouped,
// and scales by 1/sqrt(dk); gated_delta_rule_reference.h states it token by token), gated RMSNorm
// with SiLU(z) and the shared ssm_norm, then ssm_out.
// qwen3next reads β and α from one ssm_ba projection whose rows are grouped per K head; the gates
// read them through views, so nothing is reshuffled.
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void deltanet_layer(const LayerContext& ctx, const DeltaNetWeights& w, LayerState& st, const Tensor& x,
                    int64_t first_out, const Tensor& out) {
  const Hparams& hp = ctx.hp;
  Backend& be = ctx.backend;
  Workspace::DeltaNet& s = ctx.ws.gdn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_k_heads = hp.ssm_n_k_heads;
  const int64_t n_v_heads = hp.ssm_n_v_heads;
  const int64_t dk = hp.ssm_d_state;
  const int64_t dv = hp.ssm_head_v_dim();
  const int64_t key_dim = n_k_heads * dk;
  const int64_t value_dim = hp.ssm_d_inner;
  const int64_t conv_dim = hp.ssm_conv_dim();

  // Projections.
  const Tensor mixed = s.qkv_mixed.view(conv_dim, n);
  be.matmul(w.attn_qkv.view, x, mixed);  // linear_attn_qkv_mixed
  const int64_t n_out = n - first_out;  // the output gate, norm and projection are per token
  const Tensor z = s.z.view(dv, n_v_heads, n_out);
  if (n_out > 0) be.matmul(w.attn_gate.view, x.slice(1, first_out, n_out), z.reshape(value_dim, n_out));  // z
  Tensor b, alpha;  // {heads per row, rows, n}: value head i0 + ne0 · i1
  if (w.ssm_ba.present) {
    // qwen3next: per K head the rows are [b (r) | alpha (r)].
    const int64_t r = n_v_heads / n_k_heads;
    const Tensor ba = s.b.view(2 * n_v_heads, n);
    be.matmul(w.ssm_ba.view, x, ba);
    b = ba.split0(2 * r).slice(0, 0, r);
    alpha = ba.split0(2 * r).slice(0, r, r);
  } else {
    b = s.b.view(n_v_heads, 1, n);
    alpha = s.alpha.view(n_v_heads, 1, n);
    be.matmul(w.ssm_beta.view, x, b.reshape(n_v_heads, n));
    be.matmul(w.ssm_alpha.view, x, alpha.reshape(n_v_heads, n));
  }
  const Tensor beta = s.beta.view(n_v_heads, n);
  const Tensor g = s.g.view(n_v_heads, n);
  be.deltanet_gates(b, alpha, w.ssm_a.tensor, w.ssm_dt.tensor, beta, g);  // beta_sigmoid, gate

  // Causal conv over [history | new inputs], SiLU; the history is updated in place.
  const Tensor conv_out = s.conv_out.view(conv_dim, n);
  be.conv1d_silu(mixed, w.ssm_conv1d.tensor, st.conv.tensor(), conv_out);  // conv_output_silu

  // q {dk, Hk, n}, k {dk, Hk, n} and v {dv, Hv, n} are the columns [Q | K | V] of the conv output.
  const Tensor q = conv_out.slice(0, 0, key_dim).split0(dk);
  const Tensor k = conv_out.slice(0, key_dim, key_dim).split0(dk);
  const Tensor v = conv_out.slice(0, 2 * key_dim, value_dim).split0(dv);

  const DeltaNetShape shape{static_cast<int32_t>(n_k_heads), static_cast<int32_t>(n_v_heads), static_cast<int32_t>(dk),
                            static_cast<int32_t>(dv), hp.grouped_heads, hp.rms_eps};
  const Tensor o = s.o.view(dv, n_v_heads, n);
  be.delta_net(shape, q, k, v, g, beta, st.ssm.tensor(), o);  // attn_output (pre-norm)
  if (n_out == 0) return;

  // Gated RMSNorm per head with the shared weight, then SiLU(z).
  const Tensor o_normed = s.o_normed.view(dv, n_v_heads, n_out);
  be.rms_norm(o.slice(2, first_out, n_out), w.ssm_norm.tensor, hp.rms_eps, o_normed);
  be.gate_mul(GateActivation::silu, z, o_normed, o_normed);  // final_output
  be.matmul(w.ssm_out.view, o_normed.reshape(value_dim, n_out), out);  // linear_attn_out
}

}  // namespace petrel::qwen35
