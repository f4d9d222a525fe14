// Which ggml type each tensor gets for a quantization type: a port of llama.cpp's
// tensor_allows_quantization + llama_tensor_get_type (src/llama-quant.cpp, the release node-llama-cpp
// ships), so that a petrel "Q4_K_M" holds the same tensor types as llama-quantize's.
//   - only 2-D/3-D tensors whose name ends in "weight" are quantized; norms, the MoE router
//     (ffn_gate_inp), ssm_conv1d and the other small exceptions keep their type;
//   - output.weight (or token_embd.weight when the embeddings are tied) gets Q6_K;
//   - attn_v and attn_qkv share one counter and get more bits on "use_more_bits" layers
//     (i < n/8, i >= 7n/8, (i - n/8) % 3 == 2) for Q4_K_M/Q5_K_M, ffn_down likewise per layer;
//   - a row length that is not a multiple of the block size falls back (Q4_K -> Q5_0, ...).
// The counters advance in llama.cpp's tensor order (llama_tensor_order), not the file's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "petrel/status.h"
#include "quant/ggml_type.h"
#include "quantize/ftype.h"

namespace petrel {

struct PolicyModel {
  std::string arch;          // general.architecture
  uint32_t n_layer_all = 0;  // <arch>.block_count (MTP blocks included)
  uint32_t n_expert = 0;     // <arch>.expert_count, 0 for dense models
  uint32_t n_gqa = 0;        // n_head / n_head_kv of layer 0 (0 when n_head_kv is 0)
  bool is_70b = false;       // llama 70B (8 heads share attn_v): attn_v gets Q5_K
};

struct PolicyTensor {
  std::string name;
  int64_t ne[4] = {1, 1, 1, 1};
  GgmlType type = GgmlType::F32;  // its type in the input file
};

struct TypeChoice {
  GgmlType type = GgmlType::F32;
  bool quantize = false;  // false: copied as it is (type unchanged)
  bool fallback = false;  // the planned type did not fit the row length
};

// llama.cpp's tensor order (llama_model_loader::weight_name_comparer): tensors outside blocks first,
// then by block number, each group by name. Returns indices into `names`.
std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names);

// One choice per tensor (same order as `tensors`). Fails (invalid_argument) where llama.cpp would
// refuse: a tensor name without a block number in a MoE model, or a row length no type fits.
Status choose_tensor_types(const PolicyModel& model, const QuantType& qtype, bool has_imatrix,
                           const std::vector<PolicyTensor>& tensors, std::vector<TypeChoice>* out);

// ggml_n_dims: trailing dimensions of size 1 do not count.
int ggml_n_dims(const int64_t ne[4]);

}  // namespace petrel
