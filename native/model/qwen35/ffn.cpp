// SwiGLU FFN: down(silu(gate·x) ⊙ (up·x)), i.e. llama.cpp's LLM_FFN_SILU + LLM_FFN_PAR
// (ggml_swiglu_split): the dense FFN of qwen35 and qwen3, and the shared expert of the MoE layers.
#include "model/qwen35/forward.h"

namespace petrel::qwen35 {

void swiglu_ffn(const LayerContext& ctx, const WeightView& gate_w, const WeightView& up_w, const WeightView& down_w,
                const Tensor& x, const Tensor& out) {
  Backend& be = ctx.backend;
  Workspace::Ffn& s = ctx.ws.ffn;
  const int64_t n = ctx.n_tokens;
  const int64_t n_ff = gate_w.rows();
  const Tensor gate = s.gate.view(n_ff, n);
  const Tensor up = s.up.view(n_ff, n);
  be.matmul(gate_w, x, gate);  // ffn_gate
  be.matmul(up_w, x, up);      // ffn_up
  const Tensor hidden = s.hidden.view(n_ff, n);
  be.gate_mul(GateActivation::silu, gate, up, hidden);  // ffn_swiglu
  be.matmul(down_w, hidden, out);  // ffn_out
}

void dense_ffn(const LayerContext& ctx, const FfnWeights& w, const Tensor& x, const Tensor& out) {
  swiglu_ffn(ctx, w.ffn_gate.view, w.ffn_up.view, w.ffn_down.view, x, out);
}

}  // namespace petrel::qwen35
