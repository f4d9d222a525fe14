// Gated DeltaNet layer (docs/MODEL.md#gated-deltanet-layer): fused QKV projection, causal depthwise conv + SiLU
// over a rolling history, per-head decay g = ssm_a · softplus(α + dt_bias) and β = sigmoid(b),
// the gated delta rule (the backend l2-normalises q/k, pairs V heads with K heads tiled or grouped,
// and scales by 1/sqrt(dk); gated_delta_rule_reference.h states it token by token), gated RMSNorm
// with SiLU(z) and the shared ssm_norm, then ssm_out.
// qwen3next reads β and α from one ssm_ba projection whose rows are grouped per K head.
#include <cstring>

#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void deltanet_layer(const LayerContext& ctx, const DeltaNetWeights& w, LayerState& st, const float* x,
                    int64_t first_out, float* out) {
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
  float* mixed = scratch(s.qkv_mixed, n * conv_dim);
  be.matmul(w.attn_qkv.view, x, n, mixed);  // linear_attn_qkv_mixed
  const int64_t n_out = n - first_out;  // the output gate, norm and projection are per token
  float* z = scratch(s.z, n_out * value_dim);
  if (n_out > 0) be.matmul(w.attn_gate.view, x + first_out * hp.n_embd, n_out, z);  // z
  float* beta = scratch(s.beta, n * n_v_heads);
  float* alpha = scratch(s.alpha, n * n_v_heads);
  if (w.ssm_ba.present) {
    // qwen3next: per K head g the rows are [b (r) | a (r)]; flatten to V-head order g·r + j.
    const int64_t r = n_v_heads / n_k_heads;
    float* ba = scratch(s.ba, n * 2 * n_v_heads);
    be.matmul(w.ssm_ba.view, x, n, ba);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t g = 0; g < n_k_heads; ++g) {
        for (int64_t j = 0; j < r; ++j) {
          beta[t * n_v_heads + g * r + j] = ba[t * 2 * n_v_heads + g * 2 * r + j];
          alpha[t * n_v_heads + g * r + j] = ba[t * 2 * n_v_heads + g * 2 * r + r + j];
        }
      }
    }
  } else {
    be.matmul(w.ssm_beta.view, x, n, beta);
    be.matmul(w.ssm_alpha.view, x, n, alpha);
  }

  // Gates: beta_sigmoid, and the log-decay g (< 0) stored in place of alpha.
  float* g = alpha;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < n_v_heads; ++h) {
      const int64_t i = t * n_v_heads + h;
      beta[i] = sigmoid(beta[i]);
      g[i] = w.ssm_a.f32[h] * softplus(alpha[i] + w.ssm_dt.f32[h]);  // gate
    }
  }

  // Causal conv over [history | new inputs], SiLU; the history is updated in place.
  float* conv_out = scratch(s.conv_out, n * conv_dim);
  be.conv1d_silu(mixed, w.ssm_conv1d.f32, st.conv.data(), n, conv_dim, hp.ssm_d_conv, conv_out);  // conv_output_silu

  // Split into q [n][Hk][dk], k [n][Hk][dk], v [n][Hv][dv] (the delta rule wants them contiguous).
  float* q = scratch(s.q, n * key_dim);
  float* k = scratch(s.k, n * key_dim);
  float* v = scratch(s.v, n * value_dim);
  for (int64_t t = 0; t < n; ++t) {
    const float* row = conv_out + t * conv_dim;
    std::memcpy(q + t * key_dim, row, static_cast<size_t>(key_dim) * sizeof(float));
    std::memcpy(k + t * key_dim, row + key_dim, static_cast<size_t>(key_dim) * sizeof(float));
    std::memcpy(v + t * value_dim, row + 2 * key_dim, static_cast<size_t>(value_dim) * sizeof(float));
  }

  const DeltaNetShape shape{static_cast<int32_t>(n_k_heads), static_cast<int32_t>(n_v_heads), static_cast<int32_t>(dk),
                            static_cast<int32_t>(dv), hp.grouped_heads, hp.rms_eps};
  float* o = scratch(s.o, n * value_dim);
  be.delta_net(shape, q, k, v, g, beta, st.ssm.data(), n, o);  // attn_output (pre-norm)
  if (n_out == 0) return;

  // Gated RMSNorm per head with the shared weight, then SiLU(z).
  float* o_normed = scratch(s.o_normed, n_out * value_dim);
  be.rms_norm(o + first_out * value_dim, w.ssm_norm.f32, dv, n_out * n_v_heads, hp.rms_eps, o_normed);
  be.gate_mul(GateActivation::silu, z, o_normed, n_out * value_dim, o_normed);  // final_output
  be.matmul(w.ssm_out.view, o_normed, n_out, out);  // linear_attn_out
}

}  // namespace petrel::qwen35
