#include "offload/expert_offload.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "offload/simulate.h"

namespace petrel::offload {
namespace {

Eviction eviction_of(ExpertEviction e) {
  switch (e) {
    case ExpertEviction::lru: return Eviction::lru;
    case ExpertEviction::lfu: return Eviction::lfu;
    case ExpertEviction::lrfu: return Eviction::lrfu;
  }
  return Eviction::lrfu;
}

}  // namespace

ExpertOffload::ExpertOffload(const MoeModel& model, const CachePolicy& policy, int64_t n_slots)
    : model_(model),
      moe_index_(static_cast<size_t>(model.n_layer), -1),
      cache_(static_cast<int32_t>(model.moe_layers.size()), model.n_expert, n_slots, policy),
      prefetched_at_(model.moe_layers.size() * static_cast<size_t>(model.n_expert), -1) {
  for (size_t i = 0; i < model_.moe_layers.size(); ++i) {
    moe_index_[static_cast<size_t>(model_.moe_layers[i].layer)] = static_cast<int32_t>(i);
  }
}

Status ExpertOffload::create(const OffloadOptions& options, const MoeModel& model, const ModelInfo& info,
                             uint64_t host_memory_bytes, std::unique_ptr<ExpertOffload>* out) {
  out->reset();
  const bool with_device = options.device != OffloadDevice::none;
  if (!with_device && options.routing_trace_path.empty()) return Status();
  if (model.n_expert == 0) {
    return Status(StatusCode::invalid_argument, "expert offload and routing traces need a mixture-of-experts model");
  }
  if (with_device && options.vram_bytes == 0) {
    return Status(StatusCode::invalid_argument, "expert offload: give the device's memory budget (--vram)");
  }
  if (!(options.decay > 0.0 && options.decay <= 1.0) || options.max_uploads_per_layer < 0) {
    return Status(StatusCode::invalid_argument, "expert offload: decay must be in (0, 1] and uploads per layer >= 0");
  }

  PlacementInput in;
  in.items = model.resident;
  in.vram_budget = with_device ? options.vram_bytes : 0;
  in.reserve = options.reserve_bytes;
  in.n_experts = static_cast<int64_t>(model.moe_layers.size()) * model.n_expert;
  in.staging_experts = with_device && options.prefill_streaming ? 2 * static_cast<int64_t>(model.n_expert) : 0;
  uint64_t slot_bytes = 0;
  for (const MoeLayer& layer : model.moe_layers) {
    const ExpertWeights first = layer.experts.expert(0);
    in.expert_bytes = std::max(in.expert_bytes, expert_file_bytes(first));
    slot_bytes = std::max(slot_bytes, simulated_slot_bytes(first));
  }
  const PlacementPlan plan = plan_placement(in);

  CachePolicy policy;
  policy.eviction = eviction_of(options.eviction);
  policy.decay = options.decay;
  policy.max_uploads_per_layer = options.max_uploads_per_layer;
  policy.prefetch = options.prefetch;

  std::unique_ptr<ExpertOffload> self(new ExpertOffload(model, policy, plan.expert_slots));
  {
    OffloadStats& st = self->stats_;
    st.enabled = true;
    st.n_experts = in.n_experts;
    st.expert_bytes = in.expert_bytes;
    if (with_device) {
      st.device = "simulated";
      st.placement = describe_plan(in, plan);
      st.expert_slots = plan.expert_slots;
      st.staging_slots = plan.staging_slots;
      st.device_bytes = plan.device_weights + plan.device_state;
    }
  }

  self->streaming_ = plan.staging_slots > 0;
  self->stream_min_tokens_ = options.stream_min_tokens;
  self->staging_base_ = plan.expert_slots;
  if (with_device) {
    // The simulated device's slots are host memory: a budget meant for a real GPU could take more
    // than this machine has (and the kernel would kill the process when the slots are filled).
    const uint64_t arena = static_cast<uint64_t>(plan.expert_slots + plan.staging_slots) * slot_bytes;
    if (host_memory_bytes > 0 && arena > host_memory_bytes / 2) {
      char msg[200];
      std::snprintf(msg, sizeof msg,
                    "expert offload: the simulated device's slots would take %.2f GiB of this machine's %.2f GiB; "
                    "give a smaller --vram",
                    arena / 1073741824.0, host_memory_bytes / 1073741824.0);
      return Status(StatusCode::out_of_memory, msg);
    }
    self->device_ = make_simulated_expert_device(plan.expert_slots + plan.staging_slots, slot_bytes);
    if (!self->device_) {
      return Status(StatusCode::out_of_memory, "expert offload: the simulated device's " +
                                                   std::to_string(plan.expert_slots) + " expert slots do not fit in memory");
    }
    // Like a GPU at load, the cache starts full: the same number of experts from every layer, in
    // index order (nothing is known about the routing yet).
    std::vector<Admission> placed;
    for (int32_t e = 0; e < model.n_expert && self->cache_.n_resident() < self->cache_.n_slots(); ++e) {
      for (int32_t l = 0; l < self->cache_.n_layers(); ++l) self->cache_.place(l, &e, 1, &placed);
    }
    for (const Admission& a : placed) {
      PETREL_RETURN_IF_ERROR(self->device_->upload(a.slot, self->expert(a.layer, a.expert)));
    }
  }

  {
    TraceModel tm;
    tm.name = model.name.substr(0, 4096);  // the trace format keeps at most 4096 bytes of it
    tm.n_layers = static_cast<int32_t>(model.moe_layers.size());
    tm.n_expert = model.n_expert;
    tm.n_expert_used = model.n_expert_used;
    tm.n_embd = model.n_embd;
    tm.n_ff_exp = model.n_ff_exp;
    tm.expert_bytes = in.expert_bytes;
    for (const PlacementItem& item : in.items) tm.dense_bytes += item.weights;
    tm.kv_bytes_per_token = info.kv_bytes_per_token;  // F16 K and V, as the plan counts them
    tm.state_bytes = info.state_bytes_fixed;
    self->cost_ = model_cost(tm);
    if (!options.routing_trace_path.empty()) {
      PETREL_RETURN_IF_ERROR(self->trace_.open(options.routing_trace_path, tm));
      self->tracing_ = true;
    }
  }
  *out = std::move(self);
  return Status();
}

int32_t ExpertOffload::next_moe_layer(int32_t il) const {
  const int32_t i = moe_index_[static_cast<size_t>(il)];
  if (i < 0 || i + 1 >= static_cast<int32_t>(model_.moe_layers.size())) return -1;
  return model_.moe_layers[static_cast<size_t>(i) + 1].layer;
}

void ExpertOffload::begin_step(int64_t n_tokens, int64_t pos0) {
  cache_.begin_step();
  step_tokens_ = n_tokens;
  step_.n_tokens = static_cast<int32_t>(n_tokens);
  step_.pos0 = pos0;
  step_.layers.assign(model_.moe_layers.size(), TraceLayer{});
  std::lock_guard<std::mutex> lock(stats_mutex_);
  ++stats_.steps;
}

void ExpertOffload::route(int32_t il, const int32_t* experts, const int64_t* rows, int64_t n, int64_t* slots) {
  const int32_t layer = moe_index_[static_cast<size_t>(il)];
  int64_t rows_all = 0, rows_hit = 0, hit = 0, prefetch_used = 0;
  missed_rows_.clear();
  for (int64_t i = 0; i < n; ++i) {
    slots[i] = device_ ? cache_.slot_of(layer, experts[i]) : -1;
    rows_all += rows[i];
    if (slots[i] >= 0) {
      rows_hit += rows[i];
      ++hit;
    } else {
      missed_rows_.emplace_back(rows[i], experts[i]);
    }
    if (prefetched_at_[key(layer, experts[i])] == cache_.step()) ++prefetch_used;
  }
  cache_.record_use(layer, experts, static_cast<int32_t>(n));
  int64_t streamed = 0, rows_streamed = 0;
  uint64_t bytes_streamed = 0;
  if (streaming_ && step_tokens_ > 1 && !missed_rows_.empty()) {
    LayerLoad load;
    load.n_tokens = static_cast<int32_t>(step_tokens_);
    load.hit_experts = static_cast<int32_t>(hit);
    load.hit_rows = rows_hit;
    load.miss_experts = static_cast<int32_t>(missed_rows_.size());
    load.miss_rows = rows_all - rows_hit;
    if (stream_layer(load)) {
      // Into this layer's staging buffer; the other one may still feed the previous layer.
      const int64_t base = staging_base_ + static_cast<int64_t>(staging_buffer_) * model_.n_expert;
      staging_buffer_ ^= 1;
      for (int64_t i = 0; i < n; ++i) {
        if (slots[i] >= 0) continue;
        const ExpertWeights m = expert(layer, experts[i]);
        slots[i] = base + streamed++;
        (void)device_->upload(slots[i], m);  // slots fit the largest expert: cannot fail
        bytes_streamed += expert_file_bytes(m);
        rows_streamed += rows[i];
      }
    }
  }
  // The most-used misses are admitted first (they would save the most CPU work if they recur);
  // equal counts stay in ascending expert order.
  std::stable_sort(missed_rows_.begin(), missed_rows_.end(),
                   [](const std::pair<int64_t, int32_t>& a, const std::pair<int64_t, int32_t>& b) { return a.first > b.first; });
  missed_.clear();
  for (const auto& m : missed_rows_) missed_.push_back(m.second);
  if (tracing_) {
    TraceLayer& tl = step_.layers[static_cast<size_t>(layer)];
    tl.experts.assign(experts, experts + n);
    tl.rows.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) tl.rows[static_cast<size_t>(i)] = static_cast<int32_t>(rows[i]);
  }
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.rows_selected += rows_all;
  stats_.rows_on_device += rows_hit;
  stats_.experts_selected += n;
  stats_.experts_on_device += hit;
  stats_.prefetches_used += prefetch_used;
  if (streamed > 0) {
    ++stats_.layers_streamed;
    stats_.experts_streamed += streamed;
    stats_.rows_streamed += rows_streamed;
    stats_.bytes_streamed += bytes_streamed;
  }
}

bool ExpertOffload::stream_layer(const LayerLoad& load) const {
  if (stream_min_tokens_ > 0) return load.n_tokens >= stream_min_tokens_;
  // Streaming uploads the misses while the previous layer computes (double buffering), then the
  // device runs every expert: the slower of the two. Split runs the misses on the CPU beside the
  // device's hits.
  const double stream = std::max(upload_seconds(device_model_, cost_, load.miss_experts),
                                 gpu_expert_seconds(device_model_, cost_, load.hit_experts + load.miss_experts,
                                                    load.hit_rows + load.miss_rows));
  return stream < split_layer_seconds(device_model_, cost_, load);
}

const WeightView* ExpertOffload::prediction_router(int32_t il, int32_t* next) {
  if (!tracing_ && !(device_ && cache_.policy().prefetch)) return nullptr;
  *next = next_moe_layer(il);
  if (*next < 0) return nullptr;
  return &model_.moe_layers[static_cast<size_t>(moe_index_[static_cast<size_t>(*next)])].router;
}

void ExpertOffload::predicted(int32_t il, const int32_t* experts, int64_t n) {
  const int32_t layer = moe_index_[static_cast<size_t>(il)];
  if (layer < 0) return;
  if (tracing_) step_.layers[static_cast<size_t>(layer)].predicted.assign(experts, experts + n);
  if (!device_ || !cache_.policy().prefetch) return;
  admitted_.clear();
  cache_.admit(layer, experts, static_cast<int32_t>(n), true, &admitted_);
  for (const Admission& a : admitted_) prefetched_at_[key(a.layer, a.expert)] = cache_.step();
  upload(admitted_, true);
}

void ExpertOffload::start_expert_ffn(HostExpertFfn& cpu, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                                     const float* x, float* down) {
  device_->start_expert_ffn(cpu, slots, offsets, n_groups, x, down);
}

void ExpertOffload::finish_layer(int32_t il) {
  if (!device_) return;
  device_->wait();
  if (missed_.empty()) return;
  admitted_.clear();
  cache_.admit(moe_index_[static_cast<size_t>(il)], missed_.data(), static_cast<int32_t>(missed_.size()), false,
               &admitted_);
  upload(admitted_, false);
}

void ExpertOffload::upload(const std::vector<Admission>& admitted, bool prefetch) {
  uint64_t bytes = 0;
  for (const Admission& a : admitted) {
    const ExpertWeights m = expert(a.layer, a.expert);
    // The slots were sized for the largest expert of the model, so this cannot fail.
    (void)device_->upload(a.slot, m);
    bytes += expert_file_bytes(m);
  }
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.uploads += static_cast<int64_t>(admitted.size());
  if (prefetch) stats_.prefetches += static_cast<int64_t>(admitted.size());
  stats_.bytes_uploaded += bytes;
}

void ExpertOffload::end_step() {
  if (!tracing_) return;
  const Status st = trace_.append(step_);
  if (st.ok()) return;
  tracing_ = false;  // one error is reported (stats().trace_error); the steps written so far stay readable
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.trace_error = st.message();
}

OffloadStats ExpertOffload::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

}  // namespace petrel::offload
