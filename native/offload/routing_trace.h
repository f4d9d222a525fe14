// Recorded MoE routing: for every forward step, and every MoE layer in it, the experts the router
// selected (with how many of the step's tokens each got) and the experts the prefetcher predicted
// for that layer one layer earlier (the layer's router applied to the previous MoE layer's FFN
// input). The engine writes it while it runs (ModelOptions::routing_trace_path); the offload
// simulator (offload/simulate.h) replays it against cache policies and a device model.
//
// File (little-endian): "PTRT", u32 version, the model block, then steps until the end:
//   model: i32 n_layers (MoE layers), n_expert, n_expert_used, n_embd, n_ff_exp;
//          u64 expert_bytes, dense_bytes, kv_bytes_per_token, state_bytes; u32 name length, name
//   step:  "STEP", i32 n_tokens, i64 pos0, then per MoE layer:
//          u16 n_used, n_used × (u16 expert, u32 rows), u16 n_predicted, n_predicted × u16 expert
// Steps are appended as they run, so a crash loses at most the step being written: a reader
// stops at a cut-off last step and says so (truncated), and rejects anything else out of bounds.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel::offload {

struct TraceModel {
  std::string name;
  int32_t n_layers = 0;       // MoE layers
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_embd = 0;
  int32_t n_ff_exp = 0;
  uint64_t expert_bytes = 0;        // one routed expert, all its matrices (the largest over layers)
  uint64_t dense_bytes = 0;         // weights read per token that are not routed experts
  uint64_t kv_bytes_per_token = 0;  // KV cache of every attention layer, per position
  uint64_t state_bytes = 0;         // recurrent and conv state of one sequence
};

struct TraceLayer {
  std::vector<int32_t> experts;    // selected, ascending
  std::vector<int32_t> rows;       // tokens routed to experts[i]
  std::vector<int32_t> predicted;  // the prefetcher's guess for this layer (may be empty)
};

struct TraceStep {
  int32_t n_tokens = 0;
  int64_t pos0 = 0;                // position of the step's first token
  std::vector<TraceLayer> layers;  // model.n_layers entries
};

struct RoutingTrace {
  TraceModel model;
  std::vector<TraceStep> steps;
  bool truncated = false;  // the file ended inside a step (which is dropped)
};

// corrupt_file (with the file name and what is wrong) for anything out of bounds.
Status read_routing_trace(const std::string& path, RoutingTrace* out);

class RoutingTraceWriter {
 public:
  RoutingTraceWriter() = default;
  ~RoutingTraceWriter();
  RoutingTraceWriter(const RoutingTraceWriter&) = delete;
  RoutingTraceWriter& operator=(const RoutingTraceWriter&) = delete;

  // Creates (replaces) the file and writes the header.
  Status open(const std::string& path, const TraceModel& model);
  // Appends one step (step.layers.size() == model.n_layers) and flushes it.
  Status append(const TraceStep& step);
  bool is_open() const { return file_ != nullptr; }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  int32_t n_layers_ = 0;
  int32_t n_expert_ = 0;
  std::vector<uint8_t> buf_;
};

}  // namespace petrel::offload
