// Where each tensor class goes when a GPU holds part of a MoE model, from one number: the VRAM
// budget (--vram). Everything that is not a routed expert (attention and DeltaNet projections,
// shared experts, routers, norms, the output head), the KV cache at the session's context and
// the recurrent state go to VRAM first, layer by layer; what remains becomes the expert cache,
// counted in whole experts (slots). Routed experts always have their home in RAM: a slot holds a
// copy. The token embedding stays in RAM (a lookup reads one row per token), as in llama.cpp.
// Pure arithmetic over byte counts, so the same plan drives the engine and the simulator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace petrel::offload {

// What one layer (or the model's head) needs on the device besides routed experts.
struct PlacementItem {
  std::string what;    // "layer 3", "output head"
  uint64_t weights = 0;  // non-expert weights the device would multiply by
  uint64_t state = 0;    // KV cache at the planned context, or recurrent + conv state
};

struct PlacementInput {
  uint64_t vram_budget = 0;
  uint64_t reserve = 0;        // kept free for the runtime and activations
  std::vector<PlacementItem> items;  // layers in order, then the head
  uint64_t expert_bytes = 0;   // one routed expert (all its matrices), the largest over layers
  int64_t n_experts = 0;       // routed experts over all MoE layers
  // Staging slots for streaming prefill (a layer's missing experts uploaded for one micro-batch,
  // two layers' worth for double buffering); 0 without streaming. Taken before the cache, and
  // dropped (streaming off) when the budget cannot hold them.
  int64_t staging_experts = 0;
};

struct PlacementPlan {
  std::vector<bool> on_device;   // per item
  int64_t items_on_device = 0;
  uint64_t device_weights = 0;   // bytes of the items placed
  uint64_t device_state = 0;
  int64_t staging_slots = 0;     // in.staging_experts, or 0 when they did not fit
  int64_t expert_slots = 0;      // whole experts the rest of the budget holds (<= n_experts)
  uint64_t expert_cache_bytes = 0;
  bool all_dense_on_device() const { return items_on_device == static_cast<int64_t>(on_device.size()); }
  bool all_experts_resident = false;
};

// Items are placed in order while they fit (a layer whose weights and state do not fit stops the
// placement: later layers would make its activations cross PCIe twice); the expert cache gets the
// rest only once every item is on the device.
PlacementPlan plan_placement(const PlacementInput& in);

// One line: how many of the parts went to the device, their bytes, and the expert cache.
std::string describe_plan(const PlacementInput& in, const PlacementPlan& plan);

}  // namespace petrel::offload
