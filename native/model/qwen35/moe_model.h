// A Qwen3.5-family model as expert offload sees it (offload/moe_model.h): its MoE layers' routers
// and stacked experts, and what each layer would keep on a device besides its routed experts.
#pragma once

#include <cstdint>

#include "model/qwen35/hparams.h"
#include "model/qwen35/weights.h"
#include "backend/expert_weights.h"
#include "offload/moe_model.h"

namespace petrel::qwen35 {

// The routed experts of one MoE layer's FFN, stacked.
ExpertWeights expert_weights(const Hparams& hp, const FfnWeights& ffn);

// context_length: the positions the attention layers' KV caches are planned for. The result's
// views point into w.
offload::MoeModel moe_model(const Hparams& hp, const ModelWeights& w, int64_t context_length);

}  // namespace petrel::qwen35
