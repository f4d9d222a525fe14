#include "offload/expert_ffn.h"

#include <cstring>

#include "backend/activation.h"

namespace petrel::offload {
namespace {

float* grown(std::vector<float>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace

void expert_ffn(Backend& backend, const ExpertWeights& w, const int32_t* experts, const int64_t* offsets,
                int64_t n_groups, const float* x, float* down, ExpertFfnScratch* scratch) {
  if (n_groups == 0) return;
  const int64_t n_rows = offsets[n_groups];
  const int64_t n_ff = w.n_ff;
  float* gate = grown(scratch->gate, n_rows * n_ff);
  float* up = grown(scratch->up, n_rows * n_ff);
  if (w.fused) {
    float* gate_up = grown(scratch->gate_up, n_rows * 2 * n_ff);
    backend.matmul_grouped(w.gate_up, experts, offsets, n_groups, x, gate_up);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::memcpy(gate + r * n_ff, gate_up + r * 2 * n_ff, static_cast<size_t>(n_ff) * sizeof(float));
      std::memcpy(up + r * n_ff, gate_up + r * 2 * n_ff + n_ff, static_cast<size_t>(n_ff) * sizeof(float));
    }
  } else {
    backend.matmul_grouped(w.gate, experts, offsets, n_groups, x, gate);  // ffn_moe_gate
    backend.matmul_grouped(w.up, experts, offsets, n_groups, x, up);      // ffn_moe_up
  }
  float* hidden = gate;  // silu(gate) ⊙ up, in place
  backend.gate_mul(GateActivation::silu, gate, up, n_rows * n_ff, hidden);
  backend.matmul_grouped(w.down, experts, offsets, n_groups, hidden, down);  // ffn_moe_down
}

}  // namespace petrel::offload
