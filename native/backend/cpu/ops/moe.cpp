// The mixture-of-experts operations (docs/MODEL.md#moe-ffn; llama.cpp build_moe_ffn with softmax
// gating, norm_w = true, no weight scale):
//   moe_route    p = softmax(W_r x) over ALL experts, the top-k experts, w_i = p_i / max(Σ_top-k p, 2^-14)
//   moe_experts  group  the (token, expert) pairs as rows of x_e, grouped by expert
//                run    each chosen expert's SwiGLU over its rows: E_i(x) = down_i(silu(gate_i x) ⊙ up_i x)
//                combine  MoE(x) = Σ_i w_i E_i(x), plus sigmoid(g) · Shared(x) when a shared expert is given
// All the chosen experts of a layer run as one grouped product per projection
// (op_matmul_grouped), in prefill and in decode alike. With expert offload (ExpertHooks) the
// experts a device holds run there and the rest here, and the combine adds each token's experts
// in one fixed order, so the placement never changes the result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {

// Grow-only host memory of the MoE operation, reused across layers and steps.
struct MoeScratch {
  // group: the experts chosen (ascending), their token counts and offload slots (-1: the CPU);
  // then the n * k (token, expert) pairs as rows of x_e, the device's experts first, then the
  // CPU's, each by expert: the token of each row, the row of each pair, and each part's groups
  // (op_matmul_grouped's experts and row ranges; the device's slots and ranges).
  std::vector<int64_t> tokens_per_expert;  // [n_expert]
  std::vector<int32_t> used;
  std::vector<int64_t> used_rows, slots;
  std::vector<int64_t> next_row;  // [n_expert]: each expert's next free row
  std::vector<int32_t> rows_e;
  std::vector<int64_t> pair_row;
  std::vector<int32_t> experts;
  std::vector<int64_t> offsets;
  std::vector<int64_t> device_slots, device_offsets;
  std::vector<float> x_e;
  // run: every row through its expert (the expert FFN's intermediates, then its output).
  std::vector<float> gate_up, gate, up;
  std::vector<float> down_e;
  // combine: one token's pairs by expert.
  std::vector<int32_t> order;  // [k]
  // The next MoE layer's routing as the offload's prefetcher predicts it.
  struct Prediction {
    std::vector<float> logits;            // [n][n_expert]
    std::vector<float> probs, weights;    // [n_expert], [k]: one token at a time
    std::vector<int32_t> selected, likely;
    std::vector<double> mass;             // [n_expert]: probability summed over the tokens
  } predict;
};

void MoeScratchDeleter::operator()(MoeScratch* s) const { delete s; }
std::unique_ptr<MoeScratch, MoeScratchDeleter> make_moe_scratch() {
  return std::unique_ptr<MoeScratch, MoeScratchDeleter>(new MoeScratch());
}

// One token's routing (ops.h): probabilities over all experts (ffn_moe_probs), the top-k experts
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

namespace {

template <class T>
T* grown(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// ---- run -----------------------------------------------------------------------------------------

// The expert FFN over rows grouped by expert (HostExpertFfn): the CPU's part of a layer, and what a
// device that computes on the host runs for its own part, so both use the same kernels in the
// same order. A fused gate_up product is split into gate and up first, so the gated multiply runs
// over the same contiguous blocks as with separate products.
class ExpertFfn final : public HostExpertFfn {
 public:
  ExpertFfn(OpContext& ctx, MoeScratch& s) : ctx_(ctx), s_(s) {}

  void run(const ExpertWeights& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups, const float* x,
           float* down) override {
    if (n_groups == 0) return;
    const int64_t n_rows = offsets[n_groups];
    const int64_t n_ff = w.n_ff;
    float* gate = grown(s_.gate, n_rows * n_ff);
    float* up = grown(s_.up, n_rows * n_ff);
    if (w.fused) {
      float* gate_up = grown(s_.gate_up, n_rows * 2 * n_ff);
      op_matmul_grouped(ctx_, w.gate_up, experts, offsets, n_groups, x, gate_up);
      for (int64_t r = 0; r < n_rows; ++r) {
        std::memcpy(gate + r * n_ff, gate_up + r * 2 * n_ff, static_cast<size_t>(n_ff) * sizeof(float));
        std::memcpy(up + r * n_ff, gate_up + r * 2 * n_ff + n_ff, static_cast<size_t>(n_ff) * sizeof(float));
      }
    } else {
      op_matmul_grouped(ctx_, w.gate, experts, offsets, n_groups, x, gate);  // ffn_moe_gate
      op_matmul_grouped(ctx_, w.up, experts, offsets, n_groups, x, up);      // ffn_moe_up
    }
    float* hidden = gate;  // silu(gate) ⊙ up, in place
    op_gate_mul(ctx_, GateActivation::silu, gate, up, n_rows * n_ff, hidden);
    op_matmul_grouped(ctx_, w.down, experts, offsets, n_groups, hidden, down);  // ffn_moe_down
  }

 private:
  OpContext& ctx_;
  MoeScratch& s_;
};

// ---- group ---------------------------------------------------------------------------------------

struct Layer {
  int32_t il;
  const float* x;
  int64_t n, n_embd;
  const int32_t* selected;
  int32_t k, n_expert;
};

// The experts that got tokens (s.used, ascending) and how many each (s.used_rows).
void count_tokens_per_expert(const Layer& l, MoeScratch& s) {
  const int64_t n_pairs = l.n * l.k;
  s.tokens_per_expert.assign(static_cast<size_t>(l.n_expert), 0);
  for (int64_t i = 0; i < n_pairs; ++i) ++s.tokens_per_expert[static_cast<size_t>(l.selected[i])];
  s.used.clear();
  s.used_rows.clear();
  for (int32_t e = 0; e < l.n_expert; ++e) {
    const int64_t rows = s.tokens_per_expert[static_cast<size_t>(e)];
    if (rows == 0) continue;
    s.used.push_back(e);
    s.used_rows.push_back(rows);
  }
}

// The next MoE layer's router on this layer's FFN input: the experts that any token would pick
// there, most probability mass first (what the offload prefetches, and what a trace records).
void predict_next_layer(OpContext& ctx, const Layer& l, MoeScratch& s, ExpertHooks& hooks) {
  int32_t next = -1;
  const WeightView* router = hooks.prediction_router(l.il, &next);
  if (router == nullptr) return;
  MoeScratch::Prediction& p = s.predict;
  float* logits = grown(p.logits, l.n * l.n_expert);
  op_matmul(ctx, *router, l.x, l.n, logits);
  p.probs.resize(static_cast<size_t>(l.n_expert));
  p.weights.resize(static_cast<size_t>(l.k));
  p.selected.resize(static_cast<size_t>(l.k));
  p.mass.assign(static_cast<size_t>(l.n_expert), 0.0);
  std::vector<double>& mass = p.mass;
  for (int64_t t = 0; t < l.n; ++t) {
    route_token(l.n_expert, l.k, logits + t * l.n_expert, p.probs.data(), p.selected.data(), p.weights.data());
    for (int32_t i = 0; i < l.k; ++i) {
      const auto e = static_cast<size_t>(p.selected[static_cast<size_t>(i)]);
      mass[e] += p.probs[e];
    }
  }
  std::vector<int32_t>& likely = p.likely;
  likely.clear();
  for (int32_t e = 0; e < l.n_expert; ++e) {
    if (mass[static_cast<size_t>(e)] > 0.0) likely.push_back(e);
  }
  std::stable_sort(likely.begin(), likely.end(),
                   [&](int32_t a, int32_t b) { return mass[static_cast<size_t>(a)] > mass[static_cast<size_t>(b)]; });
  hooks.predicted(next, likely.data(), static_cast<int64_t>(likely.size()));
}

// Where each used expert runs (s.slots): the offload device's slot that holds it, or -1 for the
// CPU, from RAM.
void place_experts(OpContext& ctx, const Layer& l, MoeScratch& s, ExpertHooks* hooks) {
  const auto n_used = static_cast<int64_t>(s.used.size());
  s.slots.assign(static_cast<size_t>(n_used), -1);
  if (hooks == nullptr) return;
  hooks->route(l.il, s.used.data(), s.used_rows.data(), n_used, s.slots.data());
  predict_next_layer(ctx, l, s, *hooks);
}

// The pairs as rows of x_e: the device's experts first, then the CPU's, each part by ascending
// expert and tokens in order within an expert (a counting sort).
void lay_out_rows(const Layer& l, MoeScratch& s) {
  s.next_row.assign(static_cast<size_t>(l.n_expert), 0);
  s.device_slots.clear();
  s.device_offsets.assign(1, 0);
  s.experts.clear();
  s.offsets.assign(1, 0);
  int64_t row = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < s.used.size(); ++i) {
      const bool on_device = s.slots[i] >= 0;
      if (on_device != (pass == 0)) continue;
      const int32_t e = s.used[i];
      s.next_row[static_cast<size_t>(e)] = row;
      row += s.used_rows[i];
      if (on_device) {
        s.device_slots.push_back(s.slots[i]);
        s.device_offsets.push_back(row);
      } else {
        s.experts.push_back(e);
        s.offsets.push_back(row - s.device_offsets.back());
      }
    }
  }
  const int64_t n_rows = l.n * l.k;
  s.rows_e.resize(static_cast<size_t>(n_rows));
  s.pair_row.resize(static_cast<size_t>(n_rows));
  for (int64_t t = 0; t < l.n; ++t) {
    for (int32_t i = 0; i < l.k; ++i) {
      const int64_t at = s.next_row[static_cast<size_t>(l.selected[t * l.k + i])]++;
      s.rows_e[static_cast<size_t>(at)] = static_cast<int32_t>(t);
      s.pair_row[static_cast<size_t>(t * l.k + i)] = at;
    }
  }
  float* x_e = grown(s.x_e, n_rows * l.n_embd);
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(x_e + r * l.n_embd, l.x + s.rows_e[static_cast<size_t>(r)] * l.n_embd,
                static_cast<size_t>(l.n_embd) * sizeof(float));
  }
}

// ---- combine -------------------------------------------------------------------------------------

// out[t] = Σ_i w_ti E_i(x_t), each token's experts added in ascending expert order wherever each
// ran: the order of the additions is fixed, so the result does not depend on the placement.
void combine_experts(const Layer& l, MoeScratch& s, const float* weights, float* out) {
  const int64_t n_embd = l.n_embd;
  const int32_t k = l.k;
  std::fill(out, out + l.n * n_embd, 0.0f);
  s.order.resize(static_cast<size_t>(k));
  int32_t* order = s.order.data();
  for (int64_t t = 0; t < l.n; ++t) {
    const int32_t* sel = l.selected + t * k;
    for (int32_t i = 0; i < k; ++i) order[i] = i;
    std::sort(order, order + k, [&](int32_t a, int32_t b) { return sel[a] < sel[b]; });
    float* dst = out + t * n_embd;
    for (int32_t j = 0; j < k; ++j) {
      const int32_t i = order[j];
      const float wt = weights[t * k + i];
      const float* src = s.down_e.data() + s.pair_row[static_cast<size_t>(t * k + i)] * n_embd;
      for (int64_t c = 0; c < n_embd; ++c) dst[c] += wt * src[c];  // ffn_moe_weighted
    }
  }
}

// out[t] += sigmoid(g_t) · shared[t].
void add_shared_expert(const Layer& l, const float* shared, const float* shared_gate, float* out) {
  for (int64_t t = 0; t < l.n; ++t) {
    const float g = 1.0f / (1.0f + std::exp(-shared_gate[t]));  // shared_expert_gate_sigmoid
    for (int64_t c = 0; c < l.n_embd; ++c) out[t * l.n_embd + c] += g * shared[t * l.n_embd + c];
  }
}

}  // namespace

void op_moe_route(OpContext& ctx, const float* logits, int64_t n_tokens, int32_t n_expert, int32_t k, float* probs,
                  int32_t* selected, float* weights) {
  ctx.pool.parallel_for(n_tokens, grain_for(ctx.pool, n_tokens, 20 * n_expert), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      route_token(n_expert, k, logits + t * n_expert, probs + t * n_expert, selected + t * k, weights + t * k);
    }
  });
}

// Every row of x_e through its expert, into down_e. The device's part starts first and runs while
// the CPU computes its own from RAM (a miss never waits on PCIe); the parts write disjoint rows.
void op_moe_experts(OpContext& ctx, MoeScratch& s, int32_t il, const float* x, int64_t n_tokens, int64_t n_embd,
                    const int32_t* selected, const float* weights, int32_t k, int32_t n_expert,
                    const ExpertWeights& experts, const float* shared, const float* shared_gate, float* out,
                    ExpertHooks* hooks) {
  if (n_tokens <= 0) return;
  const Layer l{il, x, n_tokens, n_embd, selected, k, n_expert};
  count_tokens_per_expert(l, s);
  place_experts(ctx, l, s, hooks);
  lay_out_rows(l, s);

  const int64_t n_rows = n_tokens * k;
  float* down = grown(s.down_e, n_rows * n_embd);
  ExpertFfn ffn(ctx, s);
  const int64_t device_rows = s.device_offsets.back();
  if (device_rows > 0) {
    hooks->start_expert_ffn(ffn, s.device_slots.data(), s.device_offsets.data(),
                            static_cast<int64_t>(s.device_slots.size()), s.x_e.data(), down);
  }
  ffn.run(experts, s.experts.data(), s.offsets.data(), static_cast<int64_t>(s.experts.size()),
          s.x_e.data() + device_rows * n_embd, down + device_rows * n_embd);
  if (hooks != nullptr) hooks->finish_layer(il);

  combine_experts(l, s, weights, out);
  if (shared != nullptr) add_shared_expert(l, shared, shared_gate, out);
}

}  // namespace petrel::cpu
