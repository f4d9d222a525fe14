// The weights of a Qwen3.5-family model bound to their bytes in the memory-mapped GGUF.
// Every tensor is looked up by its GGUF name and its shape checked against the hyperparameters
// before anything runs; nothing is copied or read at load (the backend reads the mapping).
//
// Shapes are written in GGUF/ggml order, ne0 (the row length) first: {n_embd, n_vocab} is
// n_vocab rows of n_embd values, and the matmul maps an n_embd vector to n_vocab outputs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/qwen35/hparams.h"
#include "petrel/status.h"

namespace petrel {

class GgufModel;

namespace qwen35 {

// A bound tensor; `present` is false for optional tensors the file does not have.
struct Weight {
  WeightView view;
  bool present = false;
  // Vectors (norms, ssm_a, ssm_dt, conv taps, the shared-expert gate): float32 values, pointing
  // into the mapping for F32 tensors, else into a load-time conversion; and the same values as
  // the backend's constant tensor of the weight's shape (prepare_vectors), which operations read.
  const float* f32 = nullptr;
  Tensor tensor;
};

struct AttentionWeights {
  Weight attn_q;       // {n_embd, 2·n_head·head_dim} gated (per head [q_h | gate_h]); {n_embd, n_head·head_dim} qwen3
  Weight attn_k;       // {n_embd, n_head_kv·head_dim}
  Weight attn_v;       // {n_embd, n_head_kv·head_dim}
  Weight attn_output;  // {n_head·head_dim, n_embd}
  Weight attn_q_norm;  // {head_dim} F32
  Weight attn_k_norm;  // {head_dim} F32
};

struct DeltaNetWeights {
  Weight attn_qkv;     // {n_embd, conv_dim}: rows [Q (Hk·dk) | K (Hk·dk) | V (Hv·dv)]
  Weight attn_gate;    // {n_embd, value_dim}: z
  Weight ssm_conv1d;   // {d_conv, conv_dim} F32: row c = taps of channel c, oldest first
  Weight ssm_dt;       // ssm_dt.bias {Hv} F32
  Weight ssm_a;        // {Hv} F32, already -exp(A_log)
  Weight ssm_beta;     // {n_embd, Hv} (qwen35/qwen35moe)
  Weight ssm_alpha;    // {n_embd, Hv} (qwen35/qwen35moe)
  Weight ssm_ba;       // {n_embd, 2·Hv} (qwen3next): rows per k head [b (r) | a (r)] × Hk
  Weight ssm_norm;     // {dv} F32, shared by all heads, no +1
  Weight ssm_out;      // {value_dim, n_embd}
};

struct FfnWeights {
  // Dense SwiGLU.
  Weight ffn_gate;  // {n_embd, n_ff}
  Weight ffn_up;    // {n_embd, n_ff}
  Weight ffn_down;  // {n_ff, n_embd}
  // MoE.
  Weight ffn_gate_inp;       // {n_embd, n_expert} router
  Weight ffn_gate_exps;      // {n_embd, n_ff_exp, n_expert}
  Weight ffn_up_exps;        // {n_embd, n_ff_exp, n_expert}
  Weight ffn_gate_up_exps;   // {n_embd, 2·n_ff_exp, n_expert}: fused alternative (gate rows first)
  Weight ffn_down_exps;      // {n_ff_exp, n_embd, n_expert}
  // Shared expert (qwen35moe, qwen3next).
  Weight ffn_gate_inp_shexp;  // {n_embd}: scalar gate sigmoid(w · x)
  // The same gate's f32 values as a one-row F32 matrix {n_embd, 1}, the matmul the model runs:
  // bound at load like every other matrix, so a device backend has it before the first step.
  WeightView shexp_gate_row;
  Weight ffn_gate_shexp;      // {n_embd, n_ff_shexp}
  Weight ffn_up_shexp;        // {n_embd, n_ff_shexp}
  Weight ffn_down_shexp;      // {n_ff_shexp, n_embd}
};

struct LayerWeights {
  Weight attn_norm;  // {n_embd} F32
  Weight ffn_norm;   // {n_embd} F32: post_attention_norm (hybrid archs) or ffn_norm (qwen3/qwen3moe)
  AttentionWeights attn;   // when !recurrent
  DeltaNetWeights gdn;     // when recurrent
  FfnWeights ffn;
};

struct ModelWeights {
  Weight token_embd;   // {n_embd, n_vocab}
  Weight output_norm;  // {n_embd} F32
  Weight output;       // {n_embd, n_vocab}; token_embd when the file has no output.weight (tied)
  bool tied_output = false;
  std::vector<LayerWeights> layers;  // trunk layers only; the MTP block is never bound
  uint64_t n_tensors = 0;            // tensors in the file (part of the model fingerprint)
  // float32 copies of small non-F32 vector tensors (Weight::f32 points here); usually empty.
  std::vector<std::vector<float>> converted;
};

// Binds every tensor the forward pass reads. Sets hp->n_vocab from token_embd.
// corrupt_file: a missing tensor or a wrong shape (the message names the tensor and both shapes);
// unsupported: a type petrel cannot convert, or a legacy qwen3next file (ssm_in).
Status bind_weights(const GgufModel& gguf, const std::string& what, Hparams* hp, ModelWeights* out);

// Calls fn on the view of every bound weight the forward pass multiplies by (projections, FFN and
// expert matrices, routers, the output head), e.g. for Backend::prepare_weight.
void for_each_matrix(ModelWeights* w, const std::function<void(WeightView*)>& fn);

// Gives every vector weight its backend tensor (Backend::constant): once, at load.
Status prepare_vectors(Backend& backend, ModelWeights* w);

}  // namespace qwen35
}  // namespace petrel
