// SwiGLU FFN: down(silu(gate·x) ⊙ (up·x)), i.e. llama.cpp's LLM_FFN_SILU + LLM_FFN_PAR
// (ggml_swiglu_split): the dense FFN of qwen35 and qwen3, and the shared expert of the MoE layers.
#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void swiglu_ffn(const LayerContext& ctx, const WeightView& gate_w, const WeightView& up_w, const WeightView& down_w,
                const float* x, float* out) {
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_ff = gate_w.rows();
  float* gate = scratch(s.gate, n * n_ff);
  float* up = scratch(s.up, n * n_ff);
  be.matmul(gate_w, x, n, gate);  // ffn_gate
  be.matmul(up_w, x, n, up);      // ffn_up
  float* hidden = scratch(s.hidden, n * n_ff);
  be.gate_mul(GateActivation::silu, gate, up, n * n_ff, hidden);  // ffn_swiglu
  be.matmul(down_w, hidden, n, out);  // ffn_out
}

void dense_ffn(const LayerContext& ctx, const FfnWeights& w, const float* x, float* out) {
  swiglu_ffn(ctx, w.ffn_gate.view, w.ffn_up.view, w.ffn_down.view, x, out);
}

}  // namespace petrel::qwen35
