// The trace replay (see simulate.h): one Replay object per configuration, holding the cache, the
// time each resident expert's upload finishes, and the modelled clock and PCIe queue.
#include "offload/simulate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "offload/placement.h"

namespace petrel::offload {

const char* initial_fill_name(InitialFill f) {
  switch (f) {
    case InitialFill::none: return "none";
    case InitialFill::even: return "even";
    case InitialFill::hottest: return "hottest";
    case InitialFill::last_layers: return "last_layers";
  }
  return "?";
}

ModelCost model_cost(const TraceModel& m) {
  ModelCost c;
  c.n_layers = m.n_layers;
  c.expert_bytes = static_cast<double>(m.expert_bytes);
  c.expert_macs_per_row = 3.0 * static_cast<double>(m.n_embd) * static_cast<double>(m.n_ff_exp);
  // An expert has 3·n_embd·n_ff_exp weights: its bytes per weight are the model's quantization,
  // which the dense weights share closely enough to turn their bytes into multiply-adds.
  const double bytes_per_weight = c.expert_macs_per_row > 0 ? c.expert_bytes / c.expert_macs_per_row : 1.0;
  c.dense_bytes = static_cast<double>(m.dense_bytes);
  c.dense_macs_per_token = bytes_per_weight > 0 ? c.dense_bytes / bytes_per_weight : 0.0;
  c.kv_bytes_per_token = static_cast<double>(m.kv_bytes_per_token);
  c.state_bytes = static_cast<double>(m.state_bytes);
  c.activation_bytes_per_token = 4.0 * static_cast<double>(m.n_embd);
  return c;
}

int64_t max_position(const RoutingTrace& trace) {
  int64_t p = 0;
  for (const TraceStep& s : trace.steps) p = std::max(p, s.pos0 + s.n_tokens);
  return p;
}

int64_t slots_for_vram(const TraceModel& m, int64_t max_pos, double vram_bytes, double reserve_bytes,
                       int64_t* staging_slots) {
  // The trace keeps the model's totals, not its layers: one item is the same plan when it fits.
  PlacementInput in;
  in.vram_budget = vram_bytes > 0 ? static_cast<uint64_t>(vram_bytes) : 0;
  in.reserve = reserve_bytes > 0 ? static_cast<uint64_t>(reserve_bytes) : 0;
  in.items.push_back({"model", m.dense_bytes, m.kv_bytes_per_token * static_cast<uint64_t>(std::max<int64_t>(0, max_pos)) + m.state_bytes});
  in.expert_bytes = m.expert_bytes;
  in.n_experts = static_cast<int64_t>(m.n_layers) * m.n_expert;
  in.staging_experts = 2 * static_cast<int64_t>(m.n_expert);  // streaming prefill, as the engine plans it
  const PlacementPlan plan = plan_placement(in);
  if (staging_slots != nullptr) *staging_slots = plan.staging_slots;
  return plan.expert_slots;
}

namespace {

Status check_trace(const RoutingTrace& trace) {
  const TraceModel& m = trace.model;
  if (m.n_layers < 1 || m.n_expert < 1 || m.expert_bytes == 0) {
    return Status(StatusCode::invalid_argument, "simulate: the trace's model has no layers, experts or expert bytes");
  }
  for (size_t s = 0; s < trace.steps.size(); ++s) {
    const TraceStep& st = trace.steps[s];
    const auto bad = [&](const std::string& what) {
      return Status(StatusCode::invalid_argument, "simulate: step " + std::to_string(s) + ": " + what);
    };
    if (st.layers.size() != static_cast<size_t>(m.n_layers)) return bad("wrong number of layers");
    if (st.n_tokens < 1) return bad("no tokens");
    for (const TraceLayer& l : st.layers) {
      if (l.rows.size() != l.experts.size()) return bad("rows and experts differ in length");
      for (size_t i = 0; i < l.experts.size(); ++i) {
        if (l.experts[i] < 0 || l.experts[i] >= m.n_expert) return bad("expert out of range");
        if (i > 0 && l.experts[i] <= l.experts[i - 1]) return bad("experts not ascending");
        if (l.rows[i] < 0) return bad("negative rows");
      }
      for (int32_t e : l.predicted) {
        if (e < 0 || e >= m.n_expert) return bad("predicted expert out of range");
      }
    }
  }
  return Status();
}

class Replay {
 public:
  Replay(const RoutingTrace& trace, const SimConfig& config, const DeviceModel& device)
      : trace_(trace),
        config_(config),
        device_(device),
        cost_(model_cost(trace.model)),
        n_layers_(trace.model.n_layers),
        n_expert_(trace.model.n_expert),
        cache_(n_layers_, n_expert_, config.n_slots, config.policy),
        ready_at_(static_cast<size_t>(n_layers_) * static_cast<size_t>(n_expert_), 0.0),
        prefetched_in_(ready_at_.size(), -1),
        loads_(static_cast<size_t>(n_layers_)) {}

  void run(SimResult* out);

 private:
  size_t key(int32_t layer, int32_t expert) const {
    return static_cast<size_t>(layer) * static_cast<size_t>(n_expert_) + static_cast<size_t>(expert);
  }
  bool is_hit(int32_t layer, int32_t expert, double t) const {
    return cache_.slot_of(layer, expert) >= 0 && ready_at_[key(layer, expert)] <= t;
  }
  void fill_initial();
  // Classifies layer L's experts at time t, counts them (when counted_), and leaves the missed
  // ones that are not resident in missed_, most rows first.
  LayerLoad classify(const TraceStep& st, int32_t layer, double t);
  // Queues cache fills on PCIe from time t.
  void enqueue(double t);
  double split_step(const TraceStep& st, double nonexpert_per_layer);
  double stream_step(const TraceStep& st, double nonexpert_per_layer);

  const RoutingTrace& trace_;
  const SimConfig& config_;
  const DeviceModel& device_;
  const ModelCost cost_;
  const int32_t n_layers_;
  const int32_t n_expert_;
  ExpertCache cache_;
  std::vector<double> ready_at_;       // per (layer, expert): when its last upload finishes
  std::vector<int64_t> prefetched_in_;  // per (layer, expert): the step of its last prefetch
  std::vector<LayerLoad> loads_;
  std::vector<Admission> admitted_;
  std::vector<int32_t> missed_;
  std::vector<std::pair<int64_t, int32_t>> missed_rows_;  // (rows, expert), for sorting
  SimResult r_;
  int64_t step_ = 0;
  bool counted_ = false;
  double clock_ = 0.0;      // when the current step starts
  double link_free_ = 0.0;  // when PCIe has finished everything queued so far
};

void Replay::fill_initial() {
  std::vector<Admission> placed;
  switch (config_.fill) {
    case InitialFill::none: break;
    case InitialFill::even:
      // Round robin over layers by expert index, as the engine fills a device at load.
      for (int32_t e = 0; e < n_expert_ && cache_.n_resident() < cache_.n_slots(); ++e) {
        for (int32_t l = 0; l < n_layers_; ++l) cache_.place(l, &e, 1, &placed);
      }
      break;
    case InitialFill::hottest: {
      std::vector<int64_t> rows(ready_at_.size(), 0);
      for (const TraceStep& st : trace_.steps) {
        for (int32_t l = 0; l < n_layers_; ++l) {
          const TraceLayer& tl = st.layers[static_cast<size_t>(l)];
          for (size_t i = 0; i < tl.experts.size(); ++i) rows[key(l, tl.experts[i])] += tl.rows[i];
        }
      }
      std::vector<size_t> order(rows.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a] > rows[b]; });
      for (size_t k : order) {
        if (cache_.n_resident() >= cache_.n_slots()) break;
        const auto e = static_cast<int32_t>(k % static_cast<size_t>(n_expert_));
        cache_.place(static_cast<int32_t>(k / static_cast<size_t>(n_expert_)), &e, 1, &placed);
      }
      break;
    }
    case InitialFill::last_layers: {
      // llama.cpp keeps the experts of the first N layers on the CPU: the last ones are resident,
      // whole layers only (a partial layer's VRAM stays unused).
      const int64_t whole = std::min<int64_t>(cache_.n_slots() / n_expert_, n_layers_);
      std::vector<int32_t> all(static_cast<size_t>(n_expert_));
      std::iota(all.begin(), all.end(), 0);
      for (int32_t l = n_layers_ - static_cast<int32_t>(whole); l < n_layers_; ++l) {
        cache_.place(l, all.data(), n_expert_, &placed);
      }
      break;
    }
  }
}

LayerLoad Replay::classify(const TraceStep& st, int32_t layer, double t) {
  const TraceLayer& tl = st.layers[static_cast<size_t>(layer)];
  LayerLoad ld;
  ld.n_tokens = st.n_tokens;
  missed_rows_.clear();
  for (size_t i = 0; i < tl.experts.size(); ++i) {
    const int32_t e = tl.experts[i];
    const int64_t rows = tl.rows[i];
    const bool resident = cache_.slot_of(layer, e) >= 0;
    const bool hit = is_hit(layer, e, t);
    if (hit) {
      ++ld.hit_experts;
      ld.hit_rows += rows;
    } else {
      ++ld.miss_experts;
      ld.miss_rows += rows;
      if (!resident) missed_rows_.push_back({rows, e});  // an in-flight one is already on its way
    }
    if (!counted_) continue;
    r_.rows_selected += rows;
    ++r_.experts_selected;
    if (hit) {
      r_.rows_hit += rows;
      ++r_.experts_hit;
    } else if (resident) {
      ++r_.in_flight_misses;
    }
    if (prefetched_in_[key(layer, e)] == step_) {
      ++r_.prefetches_used;
      if (hit) ++r_.prefetches_hit;
    }
  }
  // The most-used misses are admitted first, as the engine does (they save the most CPU work);
  // the stable sort keeps ascending experts among equal rows, as the engine's does.
  std::stable_sort(missed_rows_.begin(), missed_rows_.end(),
                   [](const std::pair<int64_t, int32_t>& a, const std::pair<int64_t, int32_t>& b) { return a.first > b.first; });
  missed_.clear();
  for (const auto& m : missed_rows_) missed_.push_back(m.second);
  return ld;
}

void Replay::enqueue(double t) {
  const double one = upload_seconds(device_, cost_, 1);
  for (const Admission& a : admitted_) {
    const double start = std::max(t, link_free_);
    link_free_ = start + one;
    ready_at_[key(a.layer, a.expert)] = link_free_;
    if (!counted_) continue;
    ++r_.uploads;
    r_.upload_bytes += cost_.expert_bytes;
    r_.link_seconds += one;
  }
}

double Replay::split_step(const TraceStep& st, double nonexpert_per_layer) {
  double t = clock_;
  for (int32_t l = 0; l < n_layers_; ++l) {
    const TraceLayer& tl = st.layers[static_cast<size_t>(l)];
    t += nonexpert_per_layer;  // attention or DeltaNet before the MoE block
    const LayerLoad ld = classify(st, l, t);
    cache_.record_use(l, tl.experts.data(), static_cast<int32_t>(tl.experts.size()));
    // A link already this far behind would deliver new uploads too late: start none.
    const bool link_open = config_.max_backlog_seconds < 0 || link_free_ - t <= config_.max_backlog_seconds;
    // The next layer's prediction is known now (its router on this layer's FFN input).
    if (link_open && config_.policy.prefetch && l + 1 < n_layers_) {
      const TraceLayer& next = st.layers[static_cast<size_t>(l) + 1];
      admitted_.clear();
      cache_.admit(l + 1, next.predicted.data(), static_cast<int32_t>(next.predicted.size()), true, &admitted_);
      for (const Admission& a : admitted_) prefetched_in_[key(a.layer, a.expert)] = step_;
      if (counted_) r_.prefetches += static_cast<int64_t>(admitted_.size());
      enqueue(t);
    }
    if (link_open) {
      admitted_.clear();
      cache_.admit(l, missed_.data(), static_cast<int32_t>(missed_.size()), false, &admitted_);
      enqueue(t);
    }
    t += split_layer_seconds(device_, cost_, ld);
  }
  return t - clock_;
}

double Replay::stream_step(const TraceStep& st, double nonexpert_per_layer) {
  // Residency as the micro-batch starts: what is not ready now is streamed, so nothing is
  // prefetched; the cache still learns the use and admits misses, whose copies ride the stream.
  std::vector<Admission> fills;
  for (int32_t l = 0; l < n_layers_; ++l) {
    const TraceLayer& tl = st.layers[static_cast<size_t>(l)];
    loads_[static_cast<size_t>(l)] = classify(st, l, clock_);
    cache_.record_use(l, tl.experts.data(), static_cast<int32_t>(tl.experts.size()));
    admitted_.clear();
    cache_.admit(l, missed_.data(), static_cast<int32_t>(missed_.size()), false, &admitted_);
    fills.insert(fills.end(), admitted_.begin(), admitted_.end());
  }
  const StreamCost c =
      stream_step_seconds(device_, cost_, loads_.data(), n_layers_, nonexpert_per_layer, link_free_ - clock_);
  for (const Admission& a : fills) ready_at_[key(a.layer, a.expert)] = clock_ + c.seconds;
  link_free_ = std::max(link_free_, clock_ + c.link_seconds);
  if (counted_) {
    int64_t streamed = 0;
    for (const LayerLoad& ld : loads_) streamed += ld.miss_experts;
    r_.streamed_experts += streamed;
    r_.upload_bytes += static_cast<double>(streamed) * cost_.expert_bytes;
    r_.link_seconds += upload_seconds(device_, cost_, streamed);
    r_.uploads += static_cast<int64_t>(fills.size());
  }
  return c.seconds;
}

void Replay::run(SimResult* out) {
  fill_initial();
  r_.n_slots = cache_.n_slots();
  for (const TraceStep& st : trace_.steps) {
    cache_.begin_step();
    counted_ = step_ >= config_.warmup_steps;
    if (counted_) r_.max_link_backlog = std::max(r_.max_link_backlog, link_free_ - clock_);
    const double nonexpert =
        nonexpert_step_seconds(device_, cost_, st.n_tokens, st.pos0 + st.n_tokens) / static_cast<double>(n_layers_);
    double seconds = 0.0;
    if (st.n_tokens == 1) {
      seconds = split_step(st, nonexpert);
      if (counted_) {
        ++r_.decode_steps;
        ++r_.decode_tokens;
        r_.decode_seconds += seconds;
      }
    } else {
      // The engine decides before the micro-batch runs, from what is cached and uploaded now.
      for (int32_t l = 0; l < n_layers_; ++l) {
        const TraceLayer& tl = st.layers[static_cast<size_t>(l)];
        LayerLoad& ld = loads_[static_cast<size_t>(l)];
        ld = LayerLoad();
        ld.n_tokens = st.n_tokens;
        for (size_t i = 0; i < tl.experts.size(); ++i) {
          if (is_hit(l, tl.experts[i], clock_)) {
            ++ld.hit_experts;
            ld.hit_rows += tl.rows[i];
          } else {
            ++ld.miss_experts;
            ld.miss_rows += tl.rows[i];
          }
        }
      }
      const PrefillChoice choice =
          choose_prefill(device_, cost_, loads_.data(), n_layers_, nonexpert, link_free_ - clock_);
      const bool stream = choice.strategy == PrefillStrategy::stream;
      seconds = stream ? stream_step(st, nonexpert) : split_step(st, nonexpert);
      if (counted_) {
        ++r_.prefill_steps;
        r_.prefill_tokens += st.n_tokens;
        r_.prefill_seconds += seconds;
        ++(stream ? r_.prefill_stream : r_.prefill_split);
      }
    }
    if (counted_) {
      ++r_.steps;
      r_.tokens += st.n_tokens;
    }
    clock_ += seconds;
    ++step_;
  }
  *out = r_;
}

}  // namespace

Status simulate(const RoutingTrace& trace, const SimConfig& config, const DeviceModel& device, SimResult* out) {
  *out = SimResult();
  PETREL_RETURN_IF_ERROR(check_trace(trace));
  try {
    Replay replay(trace, config, device);
    replay.run(out);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "simulate: out of memory for the per-expert tables");
  }
  return Status();
}

}  // namespace petrel::offload
