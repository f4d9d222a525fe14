// The forward pass of the Qwen3.5 family (docs/MODEL.md#decoder-stack) over a batch of tokens of one
// sequence: prefill (many tokens) and decode (one token) are the same code with a different
// n_tokens. Layer bodies live in attention_layer.cpp, deltanet_layer.cpp, ffn.cpp and moe.cpp;
// each names its intermediates after llama.cpp's callback names (attn_norm, Qcur_normed,
// conv_output_silu, ffn_moe_probs, ...) so a dump can be diffed against llama-eval-callback.
// A step is only Backend operations on tensors (docs/EXECUTION.md#the-model): the model code does
// no arithmetic on activations and makes no copies, it passes views.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/state.h"
#include "model/qwen35/weights.h"
#include "petrel/status.h"

namespace petrel::offload {
class ExpertOffload;
}

namespace petrel::qwen35 {

enum class OutputRows { none, last, all };

// The activations of one forward call: backend tensors allocated once per session for the
// largest batch it has run (reserve_workspace), each planned for its widest use over the layers
// and viewed at the shape of each use. Nothing is allocated during a step.
struct Workspace {
  int64_t n_max = 0;                   // the batch the buffers hold
  std::vector<int32_t> positions_host;  // the step's positions, before they are uploaded
  TensorBuffer tokens, positions;      // I32 {n}: the step's inputs
  TensorBuffer h;                      // the residual stream {n_embd, n}
  TensorBuffer normed;                 // attn_norm / ffn_norm / result_norm output {n_embd, n}
  TensorBuffer mixer_out, ffn_out;     // attention or DeltaNet output, FFN output {n_embd, n}
  TensorBuffer logits;                 // {n_vocab, n}, for a backend that cannot write host memory

  struct Attention {
    TensorBuffer qg;            // attn_q output: per head [q_h | gate_h] when gated
    TensorBuffer q, k_raw, k, v, kqv_out;
  } attn;
  struct DeltaNet {
    TensorBuffer qkv_mixed, z;  // projections
    TensorBuffer b, alpha;      // {Hv, n}, or one ssm_ba output {2·Hv, n} in b
    TensorBuffer beta, g;       // the gates {Hv, n}
    TensorBuffer conv_out;      // {conv_dim, n}: q, k and v are views of it
    TensorBuffer o, o_normed;   // {value_dim, n}
  } gdn;
  struct Ffn {
    TensorBuffer gate, up, hidden;  // SwiGLU: the dense FFN and the shared expert {n_ff, n}
  } ffn;
  struct Moe {
    TensorBuffer router_logits, probs;  // {n_expert, n}
    TensorBuffer selected, weights;     // {n_expert_used, n}: I32 expert ids, F32 weights
    TensorBuffer shexp_out, shexp_gate; // the shared expert's output {n_embd, n} and gate logit {1, n}
  } moe;
};

// Makes the workspace hold a batch of n_tokens (buffers grow, never shrink); out_of_memory leaves
// it as it was.
Status reserve_workspace(const Hparams& hp, Backend& backend, int64_t n_tokens, Workspace* ws);

// What a layer body needs besides its weights.
struct LayerContext {
  const Hparams& hp;
  Backend& backend;
  Workspace& ws;
  int64_t n_tokens;
  Tensor positions;                 // I32 {n_tokens}
  offload::ExpertOffload* offload;  // MoE expert offload and routing traces, or null
};

// Mixers: x {n_embd, n} (normed) -> out {n_embd, n - first_out}, the outputs of tokens
// [first_out, n). Every token still updates the layer's state (KV cache, recurrent state); the
// last layer of a batch asks only for the rows whose logits are wanted (forward()).
void attention_layer(const LayerContext& ctx, int32_t il, const AttentionWeights& w, LayerState& st, const Tensor& x,
                     int64_t first_out, const Tensor& out);
void deltanet_layer(const LayerContext& ctx, const DeltaNetWeights& w, LayerState& st, const Tensor& x,
                    int64_t first_out, const Tensor& out);
// FFNs: x {n_embd, n} (normed) -> out {n_embd, n}.
// swiglu_ffn: down(silu(gate x) ⊙ up x), the dense FFN and the MoE layers' shared expert.
void swiglu_ffn(const LayerContext& ctx, const WeightView& gate, const WeightView& up, const WeightView& down,
                const Tensor& x, const Tensor& out);
void dense_ffn(const LayerContext& ctx, const FfnWeights& w, const Tensor& x, const Tensor& out);
void moe_ffn(const LayerContext& ctx, int32_t il, const FfnWeights& w, const Tensor& x, const Tensor& out);

// Runs n tokens at positions [st->n_pos, st->n_pos + n) and advances st->n_pos.
// The caller has checked the token ids, reserved KV space for the new positions (reserve_kv) and
// the workspace for n tokens (reserve_workspace).
// logits: n_vocab floats per requested row (the last token's, or every token's), replaced.
// offload: the model's expert offload (null: every expert on the CPU, no trace).
// Returns the backend's error when one of its operations failed (Backend::sync); the state and
// logits are then undefined.
Status forward(const Hparams& hp, const ModelWeights& w, Backend& backend, offload::ExpertOffload* offload, Workspace& ws,
             SequenceState* st, const int32_t* tokens, int64_t n, OutputRows rows, std::vector<float>* logits);

}  // namespace petrel::qwen35
