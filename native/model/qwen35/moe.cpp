// Mixture-of-experts FFN (docs/MODEL.md#moe-ffn; llama.cpp build_moe_ffn with softmax gating,
// norm_w = true, no weight scale):
//   route    p = softmax(W_r x) over ALL experts, the top-k experts, w_i = p_i / max(Σ_top-k p, 2^-14)
//   experts  each chosen expert's SwiGLU over its tokens, E_i(x) = down_i(silu(gate_i x) ⊙ up_i x),
//            combined: MoE(x) = Σ_i w_i E_i(x), plus sigmoid(ffn_gate_inp_shexp · x) · Shared(x)
//            for qwen35moe and qwen3next (qwen3moe has no shared expert)
// The backend groups the tokens by expert and runs each projection of all the chosen experts at
// once (Backend::moe_experts). With expert offload (offload/expert_offload.h, the backend's
// ExpertHooks) the experts a device holds run there and the rest on the CPU, and every token's
// experts are added in one fixed order, so the placement never changes the result.
#include "model/qwen35/moe_model.h"
#include "model/qwen35/forward.h"
#include "offload/expert_offload.h"

namespace petrel::qwen35 {

void moe_ffn(const LayerContext& ctx, int32_t il, const FfnWeights& w, const Tensor& x, const Tensor& out) {
  Backend& be = ctx.backend;
  Workspace::Moe& s = ctx.ws.moe;
  const int64_t n = ctx.n_tokens;
  const int64_t n_expert = ctx.hp.n_expert;
  const int64_t k = ctx.hp.n_expert_used;

  const Tensor logits = s.router_logits.view(n_expert, n);
  be.matmul(w.ffn_gate_inp.view, x, logits);  // ffn_moe_logits
  const Tensor probs = s.probs.view(n_expert, n);
  const Tensor selected = s.selected.view(k, n);
  const Tensor weights = s.weights.view(k, n);
  be.moe_route(logits, probs, selected, weights);  // ffn_moe_probs, ffn_moe_topk, ffn_moe_weights_norm

  Tensor shexp, shexp_gate;
  if (ctx.hp.has_shared_expert) {
    shexp = s.shexp_out.view(ctx.hp.n_embd, n);
    swiglu_ffn(ctx, w.ffn_gate_shexp.view, w.ffn_up_shexp.view, w.ffn_down_shexp.view, x, shexp);  // ffn_shexp
    // The shared-expert gate is a 1-row F32 matmul: {n_embd} seen as {n_embd, 1}.
    shexp_gate = s.shexp_gate.view(1, n);
    be.matmul(w.shexp_gate_row, x, shexp_gate);
  }
  be.moe_experts(il, x, selected, weights, expert_weights(ctx.hp, w), shexp, shexp_gate, out, ctx.offload);
}

}  // namespace petrel::qwen35
