// A MoE layer's routed experts as Backend::moe_experts, the expert offload and its devices see
// them: the gate and up projections (or one fused gate_up) and the down projection, each either
// a layer's stacked 3-D tensor ({cols, rows, n_expert}) or one expert's slab of it
// (WeightView::slab).
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace petrel {

struct ExpertWeights {
  bool fused = false;  // gate_up holds both: rows [0, n_ff) are the gate, [n_ff, 2·n_ff) the up
  WeightView gate;     // {n_embd, n_ff, n}
  WeightView up;       // {n_embd, n_ff, n}
  WeightView gate_up;  // {n_embd, 2·n_ff, n}
  WeightView down;     // {n_ff, n_embd, n}
  int64_t n_ff = 0;

  // Expert e's matrices alone.
  ExpertWeights expert(int64_t e) const {
    ExpertWeights one = *this;
    if (fused) {
      one.gate_up = gate_up.slab(e);
    } else {
      one.gate = gate.slab(e);
      one.up = up.slab(e);
    }
    one.down = down.slab(e);
    return one;
  }
};

}  // namespace petrel
