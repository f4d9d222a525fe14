// Per-sequence state of a Qwen3.5-family model: for each Gated DeltaNet layer the conv history
// and the recurrent matrix state; for each attention layer a KV cache (F16, as llama.cpp's
// default, or F32) that grows with the sequence (capacity doubles, never past the session's
// context length), so a long context limit costs nothing until it is used.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/qwen35/hparams.h"
#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel::qwen35 {

// Tensors of the backend the model runs on.
struct LayerState {
  // Gated DeltaNet layers.
  TensorBuffer conv;  // {conv_dim, d_conv - 1}: the last pre-conv inputs, oldest first
  TensorBuffer ssm;   // {d_v, d_k, Hv}
  // Attention layers: {head_dim, kv_capacity, n_head_kv} of SequenceState::kv_type, head-major
  // (Backend::attention's layout), positions [0, n_pos) valid.
  TensorBuffer k;
  TensorBuffer v;
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
// Positions [0, n_pos) of a K or V cache in position order, {head_dim, n_head_kv, n_pos}: a view
// of the head-major cache, which Backend::download and upload gather and scatter (snapshots).
Tensor kv_positions(const TensorBuffer& cache, int64_t n_pos);

// A fresh state (zeros, position 0, no KV allocated) whose KV cache holds kv_type (F16 or F32;
// anything else is invalid_argument), in the backend's memory.
Status make_state(const Hparams& hp, Backend& backend, GgmlType kv_type, SequenceState* out);

// Makes the KV buffers hold at least `n_pos` positions (capacity grows geometrically up to
// `max_pos`). out_of_memory if the allocation fails; the state is unchanged then.
Status reserve_kv(const Hparams& hp, Backend& backend, SequenceState* st, int64_t n_pos, int64_t max_pos);

// *out = a copy of `from` (the KV cache with its capacity), in new backend memory.
Status copy_state(const Hparams& hp, Backend& backend, const SequenceState& from, SequenceState* out);

}  // namespace petrel::qwen35
