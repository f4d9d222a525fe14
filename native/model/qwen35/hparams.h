// Hyperparameters of the Qwen3.5 family as GGUF metadata states them (docs/GGUF.md#metadata-keys):
// qwen35 / qwen35moe / qwen3next (hybrid Gated DeltaNet + gated attention) and qwen3 / qwen3moe
// (attention only, ungated; the same code with every layer an attention layer).
// Everything is read and checked here once, so the forward pass can trust the numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel {

class GgufModel;

namespace qwen35 {

enum class Arch { qwen35, qwen35moe, qwen3next, qwen3, qwen3moe };

const char* arch_name(Arch arch);

struct Hparams {
  Arch arch = Arch::qwen35;
  std::string name;  // general.name (may be empty)

  int32_t n_layer_all = 0;    // block_count, MTP blocks included
  int32_t n_layer_nextn = 0;  // nextn_predict_layers
  int32_t n_layer = 0;        // trunk layers: n_layer_all - n_layer_nextn
  int32_t n_embd = 0;
  int32_t n_vocab = 0;        // rows of token_embd.weight (set by the weight binding)
  int64_t n_ctx_train = 0;

  // Attention (per layer where GGUF allows arrays; values at recurrent layers are unused).
  std::vector<int32_t> n_head;
  std::vector<int32_t> n_head_kv;
  int32_t head_dim = 0;       // attention.key_length (= value_length)
  int32_t n_rot = 0;          // rope.dimension_count
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-6f;
  bool gated_attention = true;  // q rows interleave [q_h | gate_h] per head (hybrid archs)

  // Layer pattern: recurrent[il] = Gated DeltaNet layer.
  std::vector<bool> recurrent;

  // FFN.
  std::vector<int32_t> n_ff;  // dense width per layer (0 when MoE)
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;
  int32_t n_ff_shexp = 0;
  bool has_shared_expert = false;  // qwen35moe, qwen3next

  // Gated DeltaNet (ssm.*).
  int32_t ssm_d_conv = 0;     // conv kernel (4)
  int32_t ssm_d_inner = 0;    // value_dim = Hv * dv
  int32_t ssm_d_state = 0;    // dk (= dv)
  int32_t ssm_n_v_heads = 0;  // Hv: value heads (ssm.time_step_rank)
  int32_t ssm_n_k_heads = 0;  // Hk: query and key heads (ssm.group_count)
  bool grouped_heads = false;  // qwen3next: v head p uses k head p / (Hv/Hk); qwen35: p % Hk

  bool is_hybrid() const { return arch == Arch::qwen35 || arch == Arch::qwen35moe || arch == Arch::qwen3next; }
  bool is_moe() const { return n_expert > 0; }
  int32_t ssm_head_v_dim() const { return ssm_n_v_heads > 0 ? ssm_d_inner / ssm_n_v_heads : 0; }
  int32_t ssm_key_dim() const { return ssm_n_k_heads * ssm_d_state; }
  int32_t ssm_conv_dim() const { return 2 * ssm_key_dim() + ssm_d_inner; }
  int32_t n_recurrent() const;
};

// Reads and validates every key for the file's architecture. `what` prefixes messages (the path).
// unsupported: an architecture outside the family; corrupt_file: a missing or inconsistent key.
Status load_hparams(const GgufModel& gguf, const std::string& what, Hparams* out);

}  // namespace qwen35
}  // namespace petrel
