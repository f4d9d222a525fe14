// Dense SwiGLU FFN (qwen35, qwen3): ffn_down(silu(ffn_gate·x) ⊙ (ffn_up·x)), i.e. llama.cpp's
// LLM_FFN_SILU + LLM_FFN_PAR (ggml_swiglu_split).
#include "model/qwen35/activations.h"
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void dense_ffn(const LayerContext& ctx, const FfnWeights& w, const float* x, float* out) {
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_ff = w.ffn_gate.view.rows();
  float* gate = scratch(s.gate, n * n_ff);
  float* up = scratch(s.up, n * n_ff);
  be.matmul(w.ffn_gate.view, x, n, gate);  // ffn_gate
  be.matmul(w.ffn_up.view, x, n, up);      // ffn_up
  float* hidden = scratch(s.hidden, n * n_ff);
  be.gate_mul(GateActivation::silu, gate, up, n * n_ff, hidden);  // ffn_swiglu
  be.matmul(w.ffn_down.view, hidden, n, out);  // ffn_out
}

}  // namespace petrel::qwen35
