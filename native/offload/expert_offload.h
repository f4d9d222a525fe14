// The engine's side of MoE expert offload: one object per loaded model that holds the placement
// plan, the expert cache, the device and the routing-trace writer. The backend's MoE operation
// calls it through ExpertHooks (backend/expert_hooks.h) at each MoE layer:
//   route()             which of the experts the router chose are in a device slot (those rows go
//                       to the device, the rest to the CPU; both parts run, then merge in a fixed
//                       order);
//   prediction_router() / predicted()  the next MoE layer's likely experts (its router on this
//                       layer's FFN input): prefetched into the cache, and recorded in the trace;
//   start_expert_ffn()  the device's part;
//   finish_layer()      waits for it, then admits the missed experts for later steps, within the
//                       upload cap.
// begin_step()/end_step() bracket one forward call (the model calls them). Forward passes of a
// model are serialised (Model::Impl::compute_mutex), so the cache needs no lock; the counters
// have one, because stats() may be read from another thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/expert_hooks.h"
#include "offload/device_model.h"
#include "offload/expert_cache.h"
#include "offload/expert_device.h"
#include "offload/moe_model.h"
#include "offload/placement.h"
#include "offload/routing_trace.h"
#include "petrel/engine.h"
#include "petrel/status.h"

namespace petrel::offload {

class ExpertOffload final : public ExpertHooks {
 public:
  // *out stays null when the options ask for nothing (no device, no trace). invalid_argument for
  // a dense model or a device without a budget; out_of_memory when the simulated device's slots
  // (host memory) would take more than half of host_memory_bytes (when known, > 0) or cannot be
  // had; io_error when the trace file cannot be created.
  // model: its weight views must outlive the offload. info: the loaded model's.
  static Status create(const OffloadOptions& options, const MoeModel& model, const ModelInfo& info,
                       uint64_t host_memory_bytes, std::unique_ptr<ExpertOffload>* out);

  void begin_step(int64_t n_tokens, int64_t pos0);
  // ExpertHooks. A prefill layer that streams (prefill_streaming) has its missing experts
  // uploaded to staging slots in route(), so every slot is set. The next layer's experts are
  // predicted when a trace records them or the cache prefetches them.
  void route(int32_t il, const int32_t* experts, const int64_t* rows, int64_t n, int64_t* slots) override;
  const WeightView* prediction_router(int32_t il, int32_t* next) override;
  void predicted(int32_t il, const int32_t* experts, int64_t n) override;
  void start_expert_ffn(HostExpertFfn& cpu, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                        const float* x, float* down) override;
  void finish_layer(int32_t il) override;
  void end_step();

  OffloadStats stats() const;

 private:
  ExpertOffload(const MoeModel& model, const CachePolicy& policy, int64_t n_slots);
  // The model layer of the next MoE layer after il, or -1.
  int32_t next_moe_layer(int32_t il) const;
  // Index of (MoE layer, expert) in per-expert tables.
  size_t key(int32_t layer, int32_t expert) const {
    return static_cast<size_t>(layer) * static_cast<size_t>(model_.n_expert) + static_cast<size_t>(expert);
  }
  ExpertWeights expert(int32_t moe_layer, int32_t expert) const {
    return model_.moe_layers[static_cast<size_t>(moe_layer)].experts.expert(expert);
  }
  void upload(const std::vector<Admission>& admitted, bool prefetch);
  // Whether this prefill layer streams its misses: the cost model's comparison of the two ways.
  bool stream_layer(const LayerLoad& load) const;

  MoeModel model_;
  std::vector<int32_t> moe_index_;   // per model layer: MoE layer index, or -1
  ExpertCache cache_;
  std::unique_ptr<ExpertDevice> device_;
  RoutingTraceWriter trace_;
  bool tracing_ = false;
  TraceStep step_;
  std::vector<std::pair<int64_t, int32_t>> missed_rows_;  // the current layer's misses: (rows, expert)
  std::vector<int32_t> missed_;          // the current layer's missed experts, most rows first
  std::vector<int64_t> prefetched_at_;   // per (MoE layer, expert): the step of its last prefetch
  std::vector<Admission> admitted_;
  // Streaming prefill: staging slots follow the cache's, two layers' worth (one buffer fills
  // while the other layer computes); the cost model that decides.
  bool streaming_ = false;
  int64_t stream_min_tokens_ = 0;
  int64_t staging_base_ = 0;
  int32_t staging_buffer_ = 0;
  int64_t step_tokens_ = 0;
  DeviceModel device_model_;
  ModelCost cost_;

  mutable std::mutex stats_mutex_;
  OffloadStats stats_;
};

}  // namespace petrel::offload
