// Mixture-of-experts FFN (docs/MODEL.md#moe-ffn; llama.cpp build_moe_ffn with softmax gating,
// norm_w = true, no weight scale), in four steps:
//   route    p = softmax(W_r x) over ALL experts, the top-k experts, w_i = p_i / max(Σ_top-k p, 2^-14)
//   group    the (token, expert) pairs as rows of x_e, grouped by expert
//   run      each chosen expert's SwiGLU over its rows: E_i(x) = down_i(silu(gate_i x) ⊙ up_i x)
//   combine  MoE(x) = Σ_i w_i E_i(x), plus sigmoid(ffn_gate_inp_shexp · x) · Shared(x) for
//            qwen35moe and qwen3next (qwen3moe has no shared expert)
// All the chosen experts of a layer run as one grouped matmul per projection
// (Backend::matmul_grouped), in prefill and in decode alike. With expert offload
// (offload/expert_offload.h) the experts the device holds run there and the rest here, and the
// combine adds each token's experts in one fixed order, so the placement never changes the result.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"
#include "model/qwen35/moe_model.h"
#include "offload/expert_ffn.h"
#include "offload/expert_offload.h"

namespace petrel::qwen35 {
namespace {

// ---- route ---------------------------------------------------------------------------------------

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

// Every token's top-k experts and weights: m.selected, m.weights.
void route(const LayerContext& ctx, const FfnWeights& w, const float* x) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n = ctx.n_tokens;
  const int32_t n_expert = ctx.hp.n_expert;
  const int32_t k = ctx.hp.n_expert_used;
  float* logits = scratch(m.router_logits, n * n_expert);
  ctx.backend.matmul(w.ffn_gate_inp.view, x, n, logits);  // ffn_moe_logits
  float* probs = scratch(m.probs, n * n_expert);
  if (m.selected.size() < static_cast<size_t>(n * k)) m.selected.resize(static_cast<size_t>(n * k));
  float* weights = scratch(m.weights, n * k);
  for (int64_t t = 0; t < n; ++t) {
    route_token(n_expert, k, logits + t * n_expert, probs + t * n_expert, m.selected.data() + t * k, weights + t * k);
  }
}

// ---- group ---------------------------------------------------------------------------------------

// The experts that got tokens (m.used, ascending) and how many each (m.used_rows).
void count_tokens_per_expert(const LayerContext& ctx) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n_pairs = ctx.n_tokens * ctx.hp.n_expert_used;
  std::vector<int64_t>& tokens = m.tokens_per_expert;
  tokens.assign(static_cast<size_t>(ctx.hp.n_expert), 0);
  for (int64_t i = 0; i < n_pairs; ++i) ++tokens[static_cast<size_t>(m.selected[static_cast<size_t>(i)])];
  m.used.clear();
  m.used_rows.clear();
  for (int32_t e = 0; e < ctx.hp.n_expert; ++e) {
    if (tokens[static_cast<size_t>(e)] == 0) continue;
    m.used.push_back(e);
    m.used_rows.push_back(tokens[static_cast<size_t>(e)]);
  }
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
  Workspace::Moe& m = ctx.ws.moe;
  // This layer's routing is done, so its logits' buffer is free.
  float* logits = scratch(m.router_logits, n * n_expert);
  ctx.backend.matmul(off.router(next), x, n, logits);
  // Reused buffers: this runs in every MoE layer of every decode step when offload is on.
  Workspace::Moe::Prediction& p = m.predict;
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

// Where each used expert runs (m.slots): the offload device's slot that holds it, or -1 for the
// CPU, from RAM.
void place_experts(const LayerContext& ctx, int32_t il, const float* x) {
  Workspace::Moe& m = ctx.ws.moe;
  const auto n_used = static_cast<int64_t>(m.used.size());
  m.slots.assign(static_cast<size_t>(n_used), -1);
  offload::ExpertOffload* off = ctx.offload;
  if (off == nullptr) return;
  off->route(il, m.used.data(), m.used_rows.data(), n_used, m.slots.data());
  if (off->wants_prediction()) predict_next_layer(ctx, il, x);
}

// The pairs as rows of x_e: the device's experts first, then the CPU's, each part by ascending
// expert and tokens in order within an expert (a counting sort).
void lay_out_rows(const LayerContext& ctx, const float* x) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n = ctx.n_tokens;
  const int64_t n_embd = ctx.hp.n_embd;
  const int32_t k = ctx.hp.n_expert_used;
  std::vector<int64_t>& next_row = m.next_row;
  next_row.assign(static_cast<size_t>(ctx.hp.n_expert), 0);
  m.device_slots.clear();
  m.device_offsets.assign(1, 0);
  m.experts.clear();
  m.offsets.assign(1, 0);
  int64_t row = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < m.used.size(); ++i) {
      const bool on_device = m.slots[i] >= 0;
      if (on_device != (pass == 0)) continue;
      const int32_t e = m.used[i];
      next_row[static_cast<size_t>(e)] = row;
      row += m.used_rows[i];
      if (on_device) {
        m.device_slots.push_back(m.slots[i]);
        m.device_offsets.push_back(row);
      } else {
        m.experts.push_back(e);
        m.offsets.push_back(row - m.device_offsets.back());
      }
    }
  }
  const int64_t n_rows = n * k;
  m.rows_e.resize(static_cast<size_t>(n_rows));
  m.pair_row.resize(static_cast<size_t>(n_rows));
  for (int64_t t = 0; t < n; ++t) {
    for (int32_t i = 0; i < k; ++i) {
      const int64_t at = next_row[static_cast<size_t>(m.selected[static_cast<size_t>(t * k + i)])]++;
      m.rows_e[static_cast<size_t>(at)] = static_cast<int32_t>(t);
      m.pair_row[static_cast<size_t>(t * k + i)] = at;
    }
  }
  float* x_e = scratch(m.x_e, n_rows * n_embd);
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(x_e + r * n_embd, x + m.rows_e[static_cast<size_t>(r)] * n_embd, static_cast<size_t>(n_embd) * sizeof(float));
  }
}

void group_by_expert(const LayerContext& ctx, int32_t il, const float* x) {
  count_tokens_per_expert(ctx);
  place_experts(ctx, il, x);
  lay_out_rows(ctx, x);
}

// ---- run -----------------------------------------------------------------------------------------

// Every row of x_e through its expert, into down_e. The device's part starts first and runs while
// the CPU computes its own from RAM (a miss never waits on PCIe); the parts write disjoint rows.
void run_experts(const LayerContext& ctx, int32_t il, const FfnWeights& w) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n_embd = ctx.hp.n_embd;
  const int64_t n_rows = ctx.n_tokens * ctx.hp.n_expert_used;
  offload::ExpertOffload* off = ctx.offload;
  float* down = scratch(m.down_e, n_rows * n_embd);
  const int64_t device_rows = m.device_offsets.back();
  if (device_rows > 0) {
    off->device()->start_expert_ffn(m.device_slots.data(), m.device_offsets.data(),
                                    static_cast<int64_t>(m.device_slots.size()), m.x_e.data(), down);
  }
  offload::expert_ffn(ctx.backend, expert_weights(ctx.hp, w), m.experts.data(), m.offsets.data(),
                      static_cast<int64_t>(m.experts.size()), m.x_e.data() + device_rows * n_embd,
                      down + device_rows * n_embd, &m.expert_ffn);
  if (device_rows > 0) off->device()->wait();
  if (off != nullptr) off->finish_layer(il);
}

// ---- combine -------------------------------------------------------------------------------------

// out[t] = Σ_i w_ti E_i(x_t), each token's experts added in ascending expert order wherever each
// ran: the order of the additions is fixed, so the result does not depend on the placement.
void combine_experts(const LayerContext& ctx, float* out) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n = ctx.n_tokens;
  const int64_t n_embd = ctx.hp.n_embd;
  const int32_t k = ctx.hp.n_expert_used;
  std::fill(out, out + n * n_embd, 0.0f);
  m.order.resize(static_cast<size_t>(k));
  int32_t* order = m.order.data();
  for (int64_t t = 0; t < n; ++t) {
    const int32_t* sel = m.selected.data() + t * k;
    for (int32_t i = 0; i < k; ++i) order[i] = i;
    std::sort(order, order + k, [&](int32_t a, int32_t b) { return sel[a] < sel[b]; });
    float* dst = out + t * n_embd;
    for (int32_t j = 0; j < k; ++j) {
      const int32_t i = order[j];
      const float wt = m.weights[static_cast<size_t>(t * k + i)];
      const float* src = m.down_e.data() + m.pair_row[static_cast<size_t>(t * k + i)] * n_embd;
      for (int64_t c = 0; c < n_embd; ++c) dst[c] += wt * src[c];  // ffn_moe_weighted
    }
  }
}

// out[t] += sigmoid(ffn_gate_inp_shexp · x_t) · Shared(x_t).
void add_shared_expert(const LayerContext& ctx, const FfnWeights& w, const float* x, float* out) {
  Workspace::Moe& m = ctx.ws.moe;
  const int64_t n = ctx.n_tokens;
  const int64_t n_embd = ctx.hp.n_embd;
  float* shexp = scratch(m.shexp_out, n * n_embd);
  swiglu_ffn(ctx, w.ffn_gate_shexp.view, w.ffn_up_shexp.view, w.ffn_down_shexp.view, x, shexp);  // ffn_shexp
  // The shared-expert gate is a 1-row F32 matmul: {n_embd} seen as {n_embd, 1}.
  WeightView gate_inp = w.ffn_gate_inp_shexp.view;
  gate_inp.type = GgmlType::F32;
  gate_inp.ne[0] = n_embd;
  gate_inp.ne[1] = 1;
  gate_inp.data = reinterpret_cast<const uint8_t*>(w.ffn_gate_inp_shexp.f32);
  gate_inp.row_bytes = static_cast<uint64_t>(n_embd) * sizeof(float);
  float* shexp_gate = scratch(m.shexp_gate, n);
  ctx.backend.matmul(gate_inp, x, n, shexp_gate);
  for (int64_t t = 0; t < n; ++t) {
    const float g = sigmoid(shexp_gate[t]);  // shared_expert_gate_sigmoid
    for (int64_t c = 0; c < n_embd; ++c) out[t * n_embd + c] += g * shexp[t * n_embd + c];
  }
}

}  // namespace

void moe_ffn(const LayerContext& ctx, int32_t il, const FfnWeights& w, const float* x, float* out) {
  route(ctx, w, x);
  group_by_expert(ctx, il, x);
  run_experts(ctx, il, w);
  combine_experts(ctx, out);
  if (ctx.hp.has_shared_expert) add_shared_expert(ctx, w, x, out);
}

}  // namespace petrel::qwen35
