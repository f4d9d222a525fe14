// Per-sequence state of a Qwen3.5-family model: for each Gated DeltaNet layer the conv history
// and the recurrent matrix state; for each attention layer a KV cache (F16, as llama.cpp's
// default, or F32) that grows with the sequence (capacity doubles, never past the session's
// context length), so a long context limit costs nothing until it is used.
#pragma once

#include <cstdint>
#include <vector>

#include "model/qwen35/hparams.h"
#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel::qwen35 {

struct LayerState {
  // Gated DeltaNet layers.
  std::vector<float> conv;  // [d_conv - 1][conv_dim]: the last pre-conv inputs, oldest first
  std::vector<float> ssm;   // [Hv][d_k][d_v]
  // Attention layers: [n_head_kv][capacity][head_dim] values of SequenceState::kv_type as raw
  // bytes (head-major: Backend::attention's layout), positions [0, n_pos) valid.
  std::vector<uint8_t> k;
  std::vector<uint8_t> v;
};

struct SequenceState {
  std::vector<LayerState> layers;
  int64_t n_pos = 0;        // tokens consumed
  int64_t kv_capacity = 0;  // positions the KV buffers hold
  GgmlType kv_type = GgmlType::F16;  // F16 or F32
};

// Sizes (in floats) of each part of the state, per layer.
int64_t conv_state_floats(const Hparams& hp);
int64_t ssm_state_floats(const Hparams& hp);
int64_t kv_floats_per_token(const Hparams& hp, int32_t il);  // K (= V) values for one position
// Bytes of K (= V) for one position of layer il in a cache of kv_type (F16 or F32).
int64_t kv_bytes_per_token(const Hparams& hp, int32_t il, GgmlType kv_type);
// Byte offset of KV head h at position pos in layer il's K (or V) buffer of a cache holding
// `capacity` positions of kv_type; a head's head_dim values there are contiguous.
int64_t kv_offset(const Hparams& hp, GgmlType kv_type, int64_t capacity, int64_t h, int64_t pos);

// A fresh state (zeros, position 0, no KV allocated) whose KV cache holds kv_type (F16 or F32;
// anything else is invalid_argument).
Status make_state(const Hparams& hp, GgmlType kv_type, SequenceState* out);

// Makes the KV buffers hold at least `n_pos` positions (capacity grows geometrically up to
// `max_pos`). out_of_memory if the allocation fails; the state is unchanged then.
Status reserve_kv(const Hparams& hp, SequenceState* st, int64_t n_pos, int64_t max_pos);

}  // namespace petrel::qwen35
