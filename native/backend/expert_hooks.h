// What Backend::moe_experts asks of an MoE expert offload at each MoE layer (docs/OFFLOAD.md). The
// offload (offload/expert_offload.h) implements it, so that the backends, below the offload in
// the layer order, call into it without including it. The CPU backend runs a layer's experts in
// two parts: the rows of the experts a device slot holds go to the device, the rest run on the
// CPU from RAM at the same time, and the combine adds every token's experts in one fixed order,
// so where an expert ran never changes the result.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/expert_weights.h"

namespace petrel {

// The routed experts' SwiGLU FFN over rows grouped by expert, on host memory:
//   down[r] = W_down,e (silu(W_gate,e x[r]) ⊙ W_up,e x[r])   for rows [offsets[i], offsets[i + 1])
// and e = experts[i] of w; offsets[0] == 0; x and down are [rows][n_embd]. The CPU backend lends
// its own to a device that computes on the host (the simulated one), so both parts of a layer
// run the same kernels in the same order.
class HostExpertFfn {
 public:
  virtual void run(const ExpertWeights& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups,
                   const float* x, float* down) = 0;

 protected:
  ~HostExpertFfn() = default;
};

class ExpertHooks {
 public:
  virtual ~ExpertHooks() = default;

  // experts: the experts layer il's router chose, ascending, with rows[i] tokens each; slots[i]
  // gets the device slot that holds experts[i], or -1 for the CPU.
  virtual void route(int32_t il, const int32_t* experts, const int64_t* rows, int64_t n, int64_t* slots) = 0;
  // When the offload wants the next MoE layer's experts predicted from layer il's FFN input: that
  // layer's router, and *next its layer. Else null.
  virtual const WeightView* prediction_router(int32_t il, int32_t* next) = 0;
  // The experts the next layer's router picks for any token of the batch, most probability first.
  virtual void predicted(int32_t next, const int32_t* experts, int64_t n) = 0;
  // Starts rows [offsets[i], offsets[i + 1]) of x ([rows][n_embd], host memory) through the expert
  // in slots[i], into the same rows of down. It may return before they are done; until
  // finish_layer returns, x, down and the arrays stay untouched by the caller. ffn is the caller's
  // own expert FFN, for a device that computes on the host.
  virtual void start_expert_ffn(HostExpertFfn& ffn, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                                const float* x, float* down) = 0;
  // Waits for the device's part of layer il, then lets the offload admit the layer's missed
  // experts for later steps.
  virtual void finish_layer(int32_t il) = 0;
};

}  // namespace petrel
