// The forward pass of the Qwen3.5 family (docs/MODEL.md#decoder-stack) over a batch of tokens of one
// sequence: prefill (many tokens) and decode (one token) are the same code with a different
// n_tokens. Layer bodies live in attention_layer.cpp, deltanet_layer.cpp, ffn.cpp and moe.cpp;
// each names its intermediates after llama.cpp's callback names (attn_norm, Qcur_normed,
// conv_output_silu, ffn_moe_probs, ...) so a dump can be diffed against llama-eval-callback.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/state.h"
#include "model/qwen35/weights.h"
#include "offload/expert_ffn.h"
#include "petrel/status.h"

namespace petrel::offload {
class ExpertOffload;
}

namespace petrel::qwen35 {

enum class OutputRows { none, last, all };

// Scratch activations, grown on demand and reused across calls (one per session).
struct Workspace {
  std::vector<int32_t> positions;
  std::vector<float> h;          // residual stream [n][n_embd]
  std::vector<float> normed;     // attn_norm / ffn_norm output [n][n_embd]
  std::vector<float> mixer_out;  // attention or DeltaNet output [n][n_embd]
  std::vector<float> ffn_out;    // FFN output [n][n_embd]
  std::vector<float> result_norm;

  struct Attention {
    std::vector<float> qg, q_raw, q, gate, k_raw, k, v, kqv_out;
  } attn;
  struct DeltaNet {
    std::vector<float> qkv_mixed, z, beta, alpha, ba, conv_out, q, k, v, o, o_normed;
  } gdn;
  struct Ffn {
    std::vector<float> gate, up, hidden;  // SwiGLU: the dense FFN and the shared expert [n][n_ff]
  } ffn;
  // The MoE layer's steps (moe.cpp), in order.
  struct Moe {
    // route: every token's top-k experts (ffn_moe_topk) and their weights (ffn_moe_weights_norm).
    std::vector<float> router_logits, probs;  // [n][n_expert]
    std::vector<int32_t> selected;            // [n][n_expert_used]
    std::vector<float> weights;               // [n][n_expert_used]
    // group: the experts chosen (ascending), their token counts and offload slots (-1: the CPU);
    // then the n * n_expert_used (token, expert) pairs as rows of x_e, the device's experts first,
    // then the CPU's, each by expert: the token of each row, the row of each pair, and each part's
    // groups (Backend::matmul_grouped's experts and row ranges; the device's slots and ranges).
    std::vector<int64_t> tokens_per_expert;   // [n_expert]
    std::vector<int32_t> used;
    std::vector<int64_t> used_rows, slots;
    std::vector<int64_t> next_row;            // [n_expert]: each expert's next free row
    std::vector<int32_t> rows_e;
    std::vector<int64_t> pair_row;
    std::vector<int32_t> experts;
    std::vector<int64_t> offsets;
    std::vector<int64_t> device_slots, device_offsets;
    std::vector<float> x_e;
    // run: every row through its expert.
    offload::ExpertFfnScratch expert_ffn;
    std::vector<float> down_e;
    // combine: one token's pairs by expert, and the shared expert.
    std::vector<int32_t> order;               // [n_expert_used]
    std::vector<float> shexp_out, shexp_gate;
    // The next MoE layer's routing as the offload's prefetcher predicts it.
    struct Prediction {
      std::vector<float> probs, weights;  // [n_expert], [n_expert_used]: one token at a time
      std::vector<int32_t> selected, likely;
      std::vector<double> mass;           // [n_expert]: probability summed over the tokens
    } predict;
  } moe;
};

// What a layer body needs besides its weights.
struct LayerContext {
  const Hparams& hp;
  Backend& backend;
  Workspace& ws;
  int64_t n_tokens;
  int64_t pos0;              // position of the first token
  const int32_t* positions;  // [n_tokens]
  GgmlType kv_type;          // what the attention layers' KV caches hold (F16 or F32)
  int64_t kv_capacity;       // positions each KV cache holds (SequenceState::kv_capacity)
  offload::ExpertOffload* offload;  // MoE expert offload and routing traces, or null
};

// Mixers: x [n][n_embd] (normed) -> out [n - first_out][n_embd], the outputs of tokens
// [first_out, n). Every token still updates the layer's state (KV cache, recurrent state); the
// last layer of a batch asks only for the rows whose logits are wanted (forward()).
void attention_layer(const LayerContext& ctx, int32_t il, const AttentionWeights& w, LayerState& st, const float* x,
                     int64_t first_out, float* out);
void deltanet_layer(const LayerContext& ctx, const DeltaNetWeights& w, LayerState& st, const float* x,
                    int64_t first_out, float* out);
// FFNs: x [n][n_embd] (normed) -> out [n][n_embd].
// swiglu_ffn: down(silu(gate x) ⊙ up x), the dense FFN and the MoE layers' shared expert.
void swiglu_ffn(const LayerContext& ctx, const WeightView& gate, const WeightView& up, const WeightView& down,
                const float* x, float* out);
void dense_ffn(const LayerContext& ctx, const FfnWeights& w, const float* x, float* out);
void moe_ffn(const LayerContext& ctx, int32_t il, const FfnWeights& w, const float* x, float* out);

// Runs n tokens at positions [st->n_pos, st->n_pos + n) and advances st->n_pos.
// The caller has checked the token ids and reserved KV space for the new positions.
// logits: n_vocab floats per requested row (the last token's, or every token's), replaced.
// offload: the model's expert offload (null: every expert on the CPU, no trace).
void forward(const Hparams& hp, const ModelWeights& w, Backend& backend, offload::ExpertOffload* offload, Workspace& ws,
             SequenceState* st, const int32_t* tokens, int64_t n, OutputRows rows, std::vector<float>* logits);

}  // namespace petrel::qwen35
