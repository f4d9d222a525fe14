// The routed experts' SwiGLU FFN over rows grouped by expert:
//   down[r] = W_down,e (silu(W_gate,e x[r]) ⊙ W_up,e x[r])   for the rows r given to expert e.
// One function for the MoE layer's CPU part (model/qwen35/moe.cpp, all of a layer's experts
// stacked) and for the simulated device (one slot's expert at a time), so both run the same
// kernels in the same order and the placement never changes a result.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/expert_weights.h"

namespace petrel::offload {

// Intermediates, grown on demand and reused across calls.
struct ExpertFfnScratch {
  std::vector<float> gate_up, gate, up;
};

// Rows [offsets[i], offsets[i + 1]) of x ([rows][n_embd]) go through expert experts[i] of w, into
// the same rows of down ([rows][n_embd]); offsets[0] == 0. As Backend::matmul_grouped, whose
// results are those of one matmul per expert.
void expert_ffn(Backend& backend, const ExpertWeights& w, const int32_t* experts, const int64_t* offsets,
                int64_t n_groups, const float* x, float* down, ExpertFfnScratch* scratch);

}  // namespace petrel::offload
