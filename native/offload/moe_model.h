// What expert offload needs to know of a mixture-of-experts model, in terms of no particular
// architecture. The model fills it in (model/qwen35/moe_model.h), so that offload/ depends on the
// backend interface only and the model code may call into offload/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/expert_weights.h"
#include "offload/placement.h"

namespace petrel::offload {

struct MoeLayer {
  int32_t layer = 0;      // index among all the model's layers
  WeightView router;      // ffn_gate_inp {n_embd, n_expert}
  ExpertWeights experts;  // stacked: every routed expert of the layer
};

struct MoeModel {
  std::string name;           // general.name (the routing trace records it)
  int32_t n_layer = 0;        // all layers, MoE or not
  int32_t n_expert = 0;       // routed experts per MoE layer; 0 for a dense model
  int32_t n_expert_used = 0;  // experts each token is routed to
  int32_t n_embd = 0;
  int32_t n_ff_exp = 0;
  std::vector<MoeLayer> moe_layers;  // ascending layer
  // What a device would hold besides the routed experts: per layer its other weights and its
  // state (recurrent state, or the KV cache at the model's context length), then the output head.
  std::vector<PlacementItem> resident;
};

}  // namespace petrel::offload
