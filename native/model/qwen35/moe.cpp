// Mixture-of-experts FFN (qwen35-gguf.md §3.3; llama.cpp build_moe_ffn with softmax gating,
// norm_w = true, no weight scale): softmax over ALL experts, top-k, renormalise by
// max(sum, 6.103515625e-5), Σ w_e · down_e(silu(gate_e·x) ⊙ up_e·x). qwen35moe and qwen3next add a
// shared expert scaled per token by sigmoid(ffn_gate_inp_shexp · x); qwen3moe has none.
// Tokens are grouped by expert and all the selected experts of a layer run as one grouped matmul
// per projection (Backend::matmul_grouped), in prefill and in decode alike. With expert offload
// (offload/expert_offload.h) the experts held by the device run there and the rest here, and the
// per-token sums add the experts in one fixed order, so the placement never changes the result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"
#include "offload/expert_offload.h"

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

// Rows [0, offsets[n_groups]) of x_e through experts[i] on the CPU, from the weights in RAM:
// down = W_down (silu(W_gate x) ⊙ W_up x).
void experts_on_cpu(const LayerContext& ctx, const FfnWeights& w, const int32_t* experts, const int64_t* offsets,
                    int64_t n_groups, const float* x_e, float* down) {
  if (n_groups == 0) return;
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n_rows = offsets[n_groups];
  const int64_t n_ff = ctx.hp.n_ff_exp;
  float* gate_e = scratch(s.gate_e, n_rows * n_ff);
  float* up_e = scratch(s.up_e, n_rows * n_ff);
  if (w.ffn_gate_up_exps.present) {
    // Fused tensor: per expert, rows [0, n_ff) are the gate and [n_ff, 2·n_ff) the up projection.
    float* gate_up = scratch(s.gate_up_e, n_rows * 2 * n_ff);
    be.matmul_grouped(w.ffn_gate_up_exps.view, experts, offsets, n_groups, x_e, gate_up);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::memcpy(gate_e + r * n_ff, gate_up + r * 2 * n_ff, static_cast<size_t>(n_ff) * sizeof(float));
      std::memcpy(up_e + r * n_ff, gate_up + r * 2 * n_ff + n_ff, static_cast<size_t>(n_ff) * sizeof(float));
    }
  } else {
    be.matmul_grouped(w.ffn_gate_exps.view, experts, offsets, n_groups, x_e, gate_e);  // ffn_moe_gate
    be.matmul_grouped(w.ffn_up_exps.view, experts, offsets, n_groups, x_e, up_e);      // ffn_moe_up
  }
  float* hidden_e = scratch(s.hidden_e, n_rows * n_ff);
  be.gate_mul(GateActivation::silu, gate_e, up_e, n_rows * n_ff, hidden_e);
  be.matmul_grouped(w.ffn_down_exps.view, experts, offsets, n_groups, hidden_e, down);  // ffn_moe_down
}

// The next MoE layer's router on this layer's FFN input: the experts that any token would pick
// there, most probability mass first (what the offload prefetches, and what a trace records).
void predict_next_layer(const LayerContext& ctx, int32_t il, const float* x) {
  offload::ExpertOffload& off = *ctx.offload;
  const int32_t next = off.next_moe_layer(il);
  if (next < 0) return;
  const int64_t n = ctx.n_tokens;
  const int32_t n_expert = ctx.hp.n_expert;
  const int32_t k = ctx.hp.n_expert_used;
  Workspace::Ffn& s = ctx.ws.ffn;
  // This layer's routing is done (moe_ffn calls this after route_token), so its logits' buffer is free.
  float* logits = scratch(s.router_logits, n * n_expert);
  ctx.backend.matmul(off.router(next), x, n, logits);
  // Reused buffers: this runs in every MoE layer of every decode step when offload is on.
  Workspace::Ffn::Prediction& p = s.predict;
  p.probs.resize(static_cast<size_t>(n_expert));
  p.weights.resize(static_cast<size_t>(k));
  p.selected.resize(static_cast<size_t>(k));
  p.mass.assign(static_cast<size_t>(n_expert), 0.0);
  std::vector<double>& mass = p.mass;
  for (int64_t t = 0; t < n; ++t) {
    route_token(n_expert, k, logits + t * n_expert, p.probs.data(), p.selected.data(), p.weights.data());
    for (int32_t i = 0; i < k; ++i) {
      const auto e = static_cast<size_t>(p.selected[static_cast<size_t>(i)]);
      mass[e] += p.probs[e];
    }
  }
  std::vector<int32_t>& likely = p.likely;
  likely.clear();
  for (int32_t e = 0; e < n_expert; ++e) {
    if (mass[static_cast<size_t>(e)] > 0.0) likely.push_back(e);
  }
  std::stable_sort(likely.begin(), likely.end(),
                   [&](int32_t a, int32_t b) { return mass[static_cast<size_t>(a)] > mass[static_cast<size_t>(b)]; });
  off.predicted(next, likely.data(), static_cast<int64_t>(likely.size()));
}

}  // namespace

void moe_ffn(const LayerContext& ctx, int32_t il, const FfnWeights& w, const float* x, float* out) {
  const Hparams& hp = ctx.hp;
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_embd = hp.n_embd;
  const int32_t n_expert = hp.n_expert;
  const int32_t k = hp.n_expert_used;
  offload::ExpertOffload* off = ctx.offload;

  float* router_logits = scratch(s.router_logits, n * n_expert);
  be.matmul(w.ffn_gate_inp.view, x, n, router_logits);  // ffn_moe_logits
  float* probs = scratch(s.probs, n * n_expert);
  if (s.selected.size() < static_cast<size_t>(n * k)) s.selected.resize(static_cast<size_t>(n * k));
  float* weights = scratch(s.weights, n * k);
  for (int64_t t = 0; t < n; ++t) {
    route_token(n_expert, k, router_logits + t * n_expert, probs + t * n_expert, s.selected.data() + t * k,
                weights + t * k);
  }

  // The experts that got tokens (ascending) and how many each.
  const int64_t n_rows = n * k;
  std::vector<int64_t>& count = s.next_row;
  count.assign(static_cast<size_t>(n_expert), 0);
  for (int64_t i = 0; i < n_rows; ++i) ++count[static_cast<size_t>(s.selected[static_cast<size_t>(i)])];
  s.used.clear();
  s.used_rows.clear();
  for (int32_t e = 0; e < n_expert; ++e) {
    if (count[static_cast<size_t>(e)] == 0) continue;
    s.used.push_back(e);
    s.used_rows.push_back(count[static_cast<size_t>(e)]);
  }
  const auto n_used = static_cast<int64_t>(s.used.size());
  // Which of them the offload device holds (-1: computed here from RAM).
  s.slots.assign(static_cast<size_t>(n_used), -1);
  if (off != nullptr) {
    off->route(il, s.used.data(), s.used_rows.data(), n_used, s.slots.data());
    if (off->wants_prediction()) predict_next_layer(ctx, il, x);
  }

  // Rows of x_e: the device's experts first, then the CPU's, each part by ascending expert and
  // tokens in order within an expert (a counting sort). next[e] is expert e's next free row.
  std::vector<int64_t>& next = count;
  s.device_slots.clear();
  s.device_offsets.assign(1, 0);
  s.experts.clear();
  s.offsets.assign(1, 0);
  int64_t row = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t i = 0; i < n_used; ++i) {
      const bool on_device = s.slots[static_cast<size_t>(i)] >= 0;
      if (on_device != (pass == 0)) continue;
      const int32_t e = s.used[static_cast<size_t>(i)];
      next[static_cast<size_t>(e)] = row;
      row += s.used_rows[static_cast<size_t>(i)];
      if (on_device) {
        s.device_slots.push_back(s.slots[static_cast<size_t>(i)]);
        s.device_offsets.push_back(row);
      } else {
        s.experts.push_back(e);
        s.offsets.push_back(row - s.device_offsets.back());
      }
    }
  }
  const int64_t device_rows = s.device_offsets.back();
  s.rows_e.resize(static_cast<size_t>(n_rows));
  s.pair_row.resize(static_cast<size_t>(n_rows));
  for (int64_t t = 0; t < n; ++t) {
    for (int32_t i = 0; i < k; ++i) {
      const int64_t at = next[static_cast<size_t>(s.selected[static_cast<size_t>(t * k + i)])]++;
      s.rows_e[static_cast<size_t>(at)] = static_cast<int32_t>(t);
      s.pair_row[static_cast<size_t>(t * k + i)] = at;
    }
  }

  float* x_e = scratch(s.x_e, n_rows * n_embd);
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(x_e + r * n_embd, x + s.rows_e[static_cast<size_t>(r)] * n_embd, static_cast<size_t>(n_embd) * sizeof(float));
  }
  float* down = scratch(s.down_e, n_rows * n_embd);
  // The device's part starts first and runs while the CPU computes its own (a miss never waits on
  // PCIe); the two parts write disjoint rows of `down`.
  if (device_rows > 0) {
    off->device()->start_expert_ffn(s.device_slots.data(), s.device_offsets.data(),
                                    static_cast<int64_t>(s.device_slots.size()), x_e, down);
  }
  experts_on_cpu(ctx, w, s.experts.data(), s.offsets.data(), static_cast<int64_t>(s.experts.size()),
                 x_e + device_rows * n_embd, down + device_rows * n_embd);
  if (device_rows > 0) off->device()->wait();
  if (off != nullptr) off->finish_layer(il);

  // Weighted sum per token over its experts in ascending expert order, wherever each was computed:
  // the order of the additions is fixed, so the result does not depend on the placement.
  std::fill(out, out + n * n_embd, 0.0f);
  s.order.resize(static_cast<size_t>(k));
  int32_t* order = s.order.data();
  for (int64_t t = 0; t < n; ++t) {
    const int32_t* sel = s.selected.data() + t * k;
    for (int32_t i = 0; i < k; ++i) order[i] = i;
    std::sort(order, order + k, [&](int32_t a, int32_t b) { return sel[a] < sel[b]; });
    float* dst = out + t * n_embd;
    for (int32_t j = 0; j < k; ++j) {
      const int32_t i = order[j];
      const float wt = weights[t * k + i];
      const float* src = down + s.pair_row[static_cast<size_t>(t * k + i)] * n_embd;
      for (int64_t c = 0; c < n_embd; ++c) dst[c] += wt * src[c];  // ffn_moe_weighted
    }
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
