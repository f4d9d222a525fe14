// Mixture-of-experts FFN (qwen35-gguf.md §3.3; llama.cpp build_moe_ffn with softmax gating,
// norm_w = true, no weight scale): softmax over ALL experts, top-k, renormalise by
// max(sum, 6.103515625e-5), Σ w_e · down_e(silu(gate_e·x) ⊙ up_e·x). qwen35moe and qwen3next add a
// shared expert scaled per token by sigmoid(ffn_gate_inp_shexp · x); qwen3moe has none.
// Tokens are grouped by expert and all the selected experts of a layer run as one grouped matmul
// per projection (Backend::matmul_grouped), in prefill and in decode alike.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {
namespace {

// One token's routing: probabilities over all experts (ffn_moe_probs), the top-k experts
// (ffn_moe_topk; ties go to the lower id) and their renormalised weights (ffn_moe_weights_norm).
void route_token(int32_t n_expert, int32_t k, const float* logits, float* probs, int32_t* selected, float* weights) {
  float max_logit = logits[0];
  for (int32_t e = 1; e < n_expert; ++e) max_logit = std::max(max_logit, logits[e]);
  double sum = 0.0;  // ggml_soft_max accumulates in double
  for (int32_t e = 0; e < n_expert; ++e) {
    probs[e] = std::exp(logits[e] - max_logit);
    sum += probs[e];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int32_t e = 0; e < n_expert; ++e) probs[e] *= inv;

  for (int32_t i = 0; i < k; ++i) selected[i] = -1;
  // Insertion into a k-long list sorted by probability: k is small (2..10) and n_expert <= 512.
  int32_t filled = 0;
  for (int32_t e = 0; e < n_expert; ++e) {
    if (filled == k && probs[e] <= probs[selected[k - 1]]) continue;
    int32_t pos = std::min(filled, k - 1);
    while (pos > 0 && probs[e] > probs[selected[pos - 1]]) {
      selected[pos] = selected[pos - 1];
      --pos;
    }
    selected[pos] = e;
    if (filled < k) ++filled;
  }
  float selected_sum = 0.0f;
  for (int32_t i = 0; i < k; ++i) selected_sum += probs[selected[i]];
  const float denom = std::max(selected_sum, 6.103515625e-5f);
  for (int32_t i = 0; i < k; ++i) weights[i] = probs[selected[i]] / denom;
}

}  // namespace

void moe_ffn(const LayerContext& ctx, const FfnWeights& w, const float* x, float* out) {
  const Hparams& hp = ctx.hp;
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_embd = hp.n_embd;
  const int32_t n_expert = hp.n_expert;
  const int32_t k = hp.n_expert_used;
  const int64_t n_ff = hp.n_ff_exp;

  float* router_logits = scratch(s.router_logits, n * n_expert);
  be.matmul(w.ffn_gate_inp.view, x, n, router_logits);  // ffn_moe_logits
  float* probs = scratch(s.probs, n * n_expert);
  if (s.selected.size() < static_cast<size_t>(n * k)) s.selected.resize(static_cast<size_t>(n * k));
  float* weights = scratch(s.weights, n * k);
  for (int64_t t = 0; t < n; ++t) {
    route_token(n_expert, k, router_logits + t * n_expert, probs + t * n_expert, s.selected.data() + t * k,
                weights + t * k);
  }

  // Group the (token, expert) pairs by expert, tokens in order within each: counting sort.
  // next[e] starts as expert e's first row and advances as its rows are filled.
  const int64_t n_rows = n * k;
  std::vector<int64_t>& next = s.next_row;
  next.assign(static_cast<size_t>(n_expert) + 1, 0);
  for (int64_t i = 0; i < n_rows; ++i) ++next[static_cast<size_t>(s.selected[static_cast<size_t>(i)]) + 1];
  for (int32_t e = 0; e < n_expert; ++e) next[static_cast<size_t>(e) + 1] += next[static_cast<size_t>(e)];
  // The experts that got tokens, and their row ranges (matmul_grouped's groups).
  s.experts.clear();
  s.offsets.clear();
  for (int32_t e = 0; e < n_expert; ++e) {
    if (next[static_cast<size_t>(e) + 1] == next[static_cast<size_t>(e)]) continue;
    s.experts.push_back(e);
    s.offsets.push_back(next[static_cast<size_t>(e)]);
  }
  s.offsets.push_back(n_rows);
  s.rows_e.resize(static_cast<size_t>(n_rows));
  s.weight_e.resize(static_cast<size_t>(n_rows));
  for (int64_t t = 0; t < n; ++t) {
    for (int32_t i = 0; i < k; ++i) {
      const int64_t at = next[static_cast<size_t>(s.selected[static_cast<size_t>(t * k + i)])]++;
      s.rows_e[static_cast<size_t>(at)] = static_cast<int32_t>(t);
      s.weight_e[static_cast<size_t>(at)] = weights[t * k + i];
    }
  }
  const int32_t* experts = s.experts.data();
  const int64_t* offsets = s.offsets.data();
  const auto used = static_cast<int64_t>(s.experts.size());

  float* x_e = scratch(s.x_e, n_rows * n_embd);
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(x_e + r * n_embd, x + s.rows_e[static_cast<size_t>(r)] * n_embd, static_cast<size_t>(n_embd) * sizeof(float));
  }
  float* gate_e = scratch(s.gate_e, n_rows * n_ff);
  float* up_e = scratch(s.up_e, n_rows * n_ff);
  if (w.ffn_gate_up_exps.present) {
    // Fused tensor: per expert, rows [0, n_ff) are the gate and [n_ff, 2·n_ff) the up projection.
    float* gate_up = scratch(s.gate_up_e, n_rows * 2 * n_ff);
    be.matmul_grouped(w.ffn_gate_up_exps.view, experts, offsets, used, x_e, gate_up);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::memcpy(gate_e + r * n_ff, gate_up + r * 2 * n_ff, static_cast<size_t>(n_ff) * sizeof(float));
      std::memcpy(up_e + r * n_ff, gate_up + r * 2 * n_ff + n_ff, static_cast<size_t>(n_ff) * sizeof(float));
    }
  } else {
    be.matmul_grouped(w.ffn_gate_exps.view, experts, offsets, used, x_e, gate_e);  // ffn_moe_gate
    be.matmul_grouped(w.ffn_up_exps.view, experts, offsets, used, x_e, up_e);      // ffn_moe_up
  }
  float* hidden_e = scratch(s.hidden_e, n_rows * n_ff);
  be.gate_mul(GateActivation::silu, gate_e, up_e, n_rows * n_ff, hidden_e);
  float* down = scratch(s.down_e, n_rows * n_embd);
  be.matmul_grouped(w.ffn_down_exps.view, experts, offsets, used, hidden_e, down);  // ffn_moe_down
  // Weighted sum per token, experts in ascending order (the order of the additions is fixed).
  std::fill(out, out + n * n_embd, 0.0f);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float wt = s.weight_e[static_cast<size_t>(r)];
    float* dst = out + s.rows_e[static_cast<size_t>(r)] * n_embd;
    const float* src = down + r * n_embd;
    for (int64_t c = 0; c < n_embd; ++c) dst[c] += wt * src[c];  // ffn_moe_weighted
  }

  if (!hp.has_shared_expert) return;
  const int64_t n_sh = hp.n_ff_shexp;
  float* gate = scratch(s.gate, n * n_sh);
  float* up = scratch(s.up, n * n_sh);
  be.matmul(w.ffn_gate_shexp.view, x, n, gate);
  be.matmul(w.ffn_up_shexp.view, x, n, up);
  float* hidden = scratch(s.hidden, n * n_sh);
  be.gate_mul(GateActivation::silu, gate, up, n * n_sh, hidden);
  float* shexp = scratch(s.shexp_out, n * n_embd);
  be.matmul(w.ffn_down_shexp.view, hidden, n, shexp);  // ffn_shexp
  // The shared-expert gate is a 1-row F32 matmul: {n_embd} seen as {n_embd, 1}.
  WeightView gate_inp = w.ffn_gate_inp_shexp.view;
  gate_inp.type = GgmlType::F32;
  gate_inp.ne[0] = n_embd;
  gate_inp.ne[1] = 1;
  gate_inp.data = reinterpret_cast<const uint8_t*>(w.ffn_gate_inp_shexp.f32);
  gate_inp.row_bytes = static_cast<uint64_t>(n_embd) * sizeof(float);
  float* shexp_gate = scratch(s.shexp_gate, n);
  be.matmul(gate_inp, x, n, shexp_gate);
  for (int64_t t = 0; t < n; ++t) {
    const float g = sigmoid(shexp_gate[t]);  // shared_expert_gate_sigmoid
    for (int64_t c = 0; c < n_embd; ++c) out[t * n_embd + c] += g * shexp[t * n_embd + c];
  }
}

}  // namespace petrel::qwen35
