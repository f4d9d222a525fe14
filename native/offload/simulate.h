// Replays a recorded routing trace (offload/routing_trace.h) against one expert-cache
// configuration on a modelled device (offload/device_model.h), with the engine's own ExpertCache
// making the decisions, and counts what happened: hits, prefetches, uploads, modelled time.
//
// Per step, the MoE layers run in order on a modelled timeline. At layer L (after its non-expert
// part): an expert is a hit only if it is resident and its upload has finished by then; uploads
// go through one serial PCIe queue and are never waited for (an expert still in flight is a
// miss, computed by the CPU). Then, in the engine's order (offload/expert_offload.cpp): the
// layer's use is recorded, layer L+1's predicted experts are prefetched (policy.prefetch), and
// the missed experts are admitted for later steps (both within the per-layer upload cap, both
// queued on PCIe at that moment, overlapping the compute).
//
// Decode steps (one token) use the split strategy. A prefill micro-batch (more tokens) picks
// split or streaming (choose_prefill) from what is cached when it starts; a streamed micro-batch
// uploads its missing experts itself, so it does not prefetch, and the experts it admits into
// the cache arrive with the stream (ready at the step's end).
//
// Deterministic: the same trace and configuration give the same result.
#pragma once

#include <cstdint>

#include "offload/device_model.h"
#include "offload/expert_cache.h"
#include "offload/routing_trace.h"
#include "petrel/status.h"

namespace petrel::offload {

// What the slots hold before the first step (at load; not counted as uploads).
enum class InitialFill {
  none,         // empty
  even,         // the same number of experts from every layer, in index order (what the engine does)
  hottest,      // per layer, the experts with the most rows over this very trace (an oracle profile)
  last_layers,  // whole layers from the last one down, as many as fit (llama.cpp --n-cpu-moe N)
};
const char* initial_fill_name(InitialFill f);

struct SimConfig {
  CachePolicy policy;        // max_uploads_per_layer 0: a static placement
  int64_t n_slots = 0;       // clamped to the number of experts
  InitialFill fill = InitialFill::even;
  int64_t warmup_steps = 0;  // replayed but left out of every count and time
  // No cache uploads (prefetches or misses) are started while PCIe already has more than this
  // much work queued: when uploads are asked for faster than the link carries them, the queue and
  // every upload's wait grow until prefetches arrive after their layer has run. < 0: no limit.
  double max_backlog_seconds = -1.0;
};

struct SimResult {
  int64_t n_slots = 0;  // after clamping
  int64_t steps = 0, tokens = 0;
  // Selections: rows are (token, expert) pairs, experts are (step, layer, expert) triples.
  int64_t rows_selected = 0, rows_hit = 0;
  int64_t experts_selected = 0, experts_hit = 0;
  int64_t in_flight_misses = 0;  // resident, but the upload had not finished when the layer ran
  // Prefetch admissions, those whose expert the layer then used, and those that were also a hit.
  int64_t prefetches = 0, prefetches_used = 0, prefetches_hit = 0;
  int64_t uploads = 0;          // cache fills (prefetch and miss admissions)
  double upload_bytes = 0;      // everything sent over PCIe: cache fills and streamed experts
  int64_t streamed_experts = 0;  // uploaded by streamed micro-batches (cache fills among them too)
  // PCIe: the seconds it spent copying, and the most it was behind (queued work not yet done when
  // a step started). Busy above the modelled time means uploads are asked for faster than the
  // link carries them, and the queue, so every upload's wait, grows.
  double link_seconds = 0;
  double max_link_backlog = 0;
  int64_t decode_steps = 0, decode_tokens = 0;
  double decode_seconds = 0;
  int64_t prefill_steps = 0, prefill_tokens = 0;
  double prefill_seconds = 0;
  int64_t prefill_split = 0, prefill_stream = 0;  // the strategy chosen per micro-batch

  double row_hit_rate() const { return rows_selected > 0 ? static_cast<double>(rows_hit) / static_cast<double>(rows_selected) : 0.0; }
  double expert_hit_rate() const {
    return experts_selected > 0 ? static_cast<double>(experts_hit) / static_cast<double>(experts_selected) : 0.0;
  }
  // Of the prefetched experts, the share the layer used (0 when nothing was prefetched).
  double prefetch_use_rate() const {
    return prefetches > 0 ? static_cast<double>(prefetches_used) / static_cast<double>(prefetches) : 0.0;
  }
  // PCIe busy time over the modelled time (above 1: oversubscribed).
  double link_busy() const {
    const double t = decode_seconds + prefill_seconds;
    return t > 0 ? link_seconds / t : 0.0;
  }
  double upload_bytes_per_step() const { return steps > 0 ? upload_bytes / static_cast<double>(steps) : 0.0; }
  double upload_bytes_per_token() const { return tokens > 0 ? upload_bytes / static_cast<double>(tokens) : 0.0; }
  double decode_tokens_per_second() const {
    return decode_seconds > 0 ? static_cast<double>(decode_tokens) / decode_seconds : 0.0;
  }
  double prefill_tokens_per_second() const {
    return prefill_seconds > 0 ? static_cast<double>(prefill_tokens) / prefill_seconds : 0.0;
  }
};

// The model's sizes as the cost model sees them. The multiply-adds of the dense weights are
// estimated from their bytes at the experts' bytes per weight.
ModelCost model_cost(const TraceModel& m);

// The highest position the trace reaches (pos0 + n_tokens of its furthest step).
int64_t max_position(const RoutingTrace& trace);

// Expert slots a VRAM budget leaves (offload/placement.h's plan, as the engine makes it): (vram -
// dense - KV at max_pos - state - reserve - the streaming prefill's staging slots) / expert bytes,
// floored at 0 (and clamped to the number of experts).
// *staging_slots (when given): 2 · n_expert, or 0 when they did not fit and were dropped.
int64_t slots_for_vram(const TraceModel& m, int64_t max_pos, double vram_bytes, double reserve_bytes,
                       int64_t* staging_slots = nullptr);

// invalid_argument when a step does not have model.n_layers layers or names an expert out of
// range (a trace from read_routing_trace never does); out_of_memory when the per-expert tables
// cannot be had.
Status simulate(const RoutingTrace& trace, const SimConfig& config, const DeviceModel& device, SimResult* out);

}  // namespace petrel::offload
