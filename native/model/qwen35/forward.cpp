// The model loop (docs/MODEL.md#decoder-stack): embedding lookup, pre-norm residual blocks with a
// DeltaNet or attention mixer and a dense or MoE FFN, final RMSNorm, LM head. No embedding scale,
// no logit soft-cap. Logits are computed only for the rows the caller asked for.
#include "model/qwen35/forward.h"

#include <algorithm>

#include "offload/expert_offload.h"

namespace petrel::qwen35 {

Status reserve_workspace(const Hparams& hp, Backend& backend, int64_t n, Workspace* ws) {
  if (n <= ws->n_max) return Status();
  // The widest use of each buffer over the layers.
  int64_t qg_width = 0, q_width = 0, kv_width = 0, n_ff = hp.has_shared_expert ? hp.n_ff_shexp : 0;
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const auto l = static_cast<size_t>(il);
    if (!hp.is_moe()) n_ff = std::max<int64_t>(n_ff, hp.n_ff[l]);
    if (hp.recurrent[l]) continue;
    q_width = std::max<int64_t>(q_width, int64_t{hp.n_head[l]} * hp.head_dim);
    kv_width = std::max<int64_t>(kv_width, int64_t{hp.n_head_kv[l]} * hp.head_dim);
  }
  qg_width = (hp.gated_attention ? 2 : 1) * q_width;
  const bool recurrent = hp.n_recurrent() > 0;
  const int64_t conv_dim = recurrent ? hp.ssm_conv_dim() : 0;
  const int64_t value_dim = recurrent ? hp.ssm_d_inner : 0;
  const int64_t n_v_heads = recurrent ? hp.ssm_n_v_heads : 0;
  const int64_t n_expert = hp.n_expert, k = hp.n_expert_used;

  Workspace next;
  next.n_max = n;
  Status st;
  auto alloc = [&](TensorBuffer* b, GgmlType type, int64_t width) {
    if (!st.ok() || width == 0) return;
    st = backend.allocate(Tensor::contiguous(type, width, n), b);
  };
  const GgmlType f32 = GgmlType::F32;
  alloc(&next.tokens, GgmlType::I32, 1);
  alloc(&next.positions, GgmlType::I32, 1);
  for (TensorBuffer* b : {&next.h, &next.normed, &next.mixer_out, &next.ffn_out}) alloc(b, f32, hp.n_embd);
  if (!backend.computes_on_host_memory()) alloc(&next.logits, f32, hp.n_vocab);
  alloc(&next.attn.qg, f32, qg_width);
  for (TensorBuffer* b : {&next.attn.q, &next.attn.kqv_out}) alloc(b, f32, q_width);
  for (TensorBuffer* b : {&next.attn.k_raw, &next.attn.k, &next.attn.v}) alloc(b, f32, kv_width);
  for (TensorBuffer* b : {&next.gdn.qkv_mixed, &next.gdn.conv_out}) alloc(b, f32, conv_dim);
  for (TensorBuffer* b : {&next.gdn.z, &next.gdn.o, &next.gdn.o_normed}) alloc(b, f32, value_dim);
  alloc(&next.gdn.b, f32, 2 * n_v_heads);
  for (TensorBuffer* b : {&next.gdn.alpha, &next.gdn.beta, &next.gdn.g}) alloc(b, f32, n_v_heads);
  for (TensorBuffer* b : {&next.ffn.gate, &next.ffn.up, &next.ffn.hidden}) alloc(b, f32, n_ff);
  for (TensorBuffer* b : {&next.moe.router_logits, &next.moe.probs}) alloc(b, f32, n_expert);
  alloc(&next.moe.selected, GgmlType::I32, k);
  alloc(&next.moe.weights, f32, k);
  if (hp.has_shared_expert) {
    alloc(&next.moe.shexp_out, f32, hp.n_embd);
    alloc(&next.moe.shexp_gate, f32, 1);
  }
  if (!st.ok()) return Status(st.code(), "not enough memory for the activations of a " + std::to_string(n) + "-token batch");
  next.positions_host.resize(static_cast<size_t>(n));
  *ws = std::move(next);
  return Status();
}

Status forward(const Hparams& hp, const ModelWeights& w, Backend& backend, offload::ExpertOffload* offload, Workspace& ws,
               SequenceState* st, const int32_t* tokens, int64_t n, OutputRows rows, std::vector<float>* logits) {
  const int64_t n_embd = hp.n_embd;
  const int64_t pos0 = st->n_pos;
  // The step's inputs: its token ids and their positions.
  const Tensor token_ids = ws.tokens.view(n);
  const Tensor positions = ws.positions.view(n);
  for (int64_t t = 0; t < n; ++t) ws.positions_host[static_cast<size_t>(t)] = static_cast<int32_t>(pos0 + t);
  backend.upload(tokens, token_ids);
  backend.upload(ws.positions_host.data(), positions);

  const Tensor h = ws.h.view(n_embd, n);
  const Tensor normed = ws.normed.view(n_embd, n);
  const LayerContext ctx{hp, backend, ws, n, positions, offload};

  // Rows whose logits are wanted: [first_wanted, n). The last layer's output feeds nothing but the
  // logits, so past its mixer only these rows go on (llama.cpp's inp_out_ids does the same after
  // the mixer; here the mixer also skips the other rows' queries and output projections). The
  // kept rows get the values they would get with every row computed, up to float rounding: the
  // products are per token, but attention splits its work by the number of query rows.
  const int64_t first_wanted = rows == OutputRows::all ? 0 : rows == OutputRows::last ? n - 1 : n;
  const int64_t n_wanted = n - first_wanted;

  if (offload != nullptr) offload->begin_step(n, pos0);
  backend.get_rows(w.token_embd.view, token_ids, h);  // inp_embd
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(il)];
    LayerState& ls = st->layers[static_cast<size_t>(il)];
    const bool last_layer = il == hp.n_layer - 1;
    // The rows that go on past the mixer: [first_kept, n).
    const int64_t first_kept = last_layer ? first_wanted : 0;
    const int64_t n_kept = n - first_kept;
    backend.rms_norm(h, lw.attn_norm.tensor, hp.rms_eps, normed);  // attn_norm-il
    const Tensor mixer_out = ws.mixer_out.view(n_embd, n_kept);
    if (hp.recurrent[static_cast<size_t>(il)]) {
      deltanet_layer(ctx, lw.gdn, ls, normed, first_kept, mixer_out);  // linear_attn_out-il
    } else {
      attention_layer(ctx, il, lw.attn, ls, normed, first_kept, mixer_out);  // attn_output-il
    }
    if (n_kept == 0) break;
    const Tensor h_kept = h.slice(1, first_kept, n_kept);
    const Tensor ffn_in = ws.normed.view(n_embd, n_kept);
    const Tensor ffn_out = ws.ffn_out.view(n_embd, n_kept);
    backend.add(h_kept, mixer_out, h_kept);                                  // ffn_inp-il
    backend.rms_norm(h_kept, lw.ffn_norm.tensor, hp.rms_eps, ffn_in);  // attn_post_norm-il / ffn_norm-il
    LayerContext ffn_ctx = ctx;
    ffn_ctx.n_tokens = n_kept;
    ffn_ctx.positions = positions.slice(0, first_kept, n_kept);
    if (hp.is_moe()) {
      moe_ffn(ffn_ctx, il, lw.ffn, ffn_in, ffn_out);
    } else {
      dense_ffn(ffn_ctx, lw.ffn, ffn_in, ffn_out);
    }
    backend.add(h_kept, ffn_out, h_kept);  // l_out-il
  }
  st->n_pos = pos0 + n;
  if (offload != nullptr) offload->end_step();

  if (n_wanted == 0) {
    logits->clear();
    return backend.sync();
  }
  const Tensor result_norm = ws.normed.view(n_embd, n_wanted);
  backend.rms_norm(h.slice(1, first_wanted, n_wanted), w.output_norm.tensor, hp.rms_eps, result_norm);  // result_norm
  logits->resize(static_cast<size_t>(n_wanted * hp.n_vocab));
  const Tensor desc = Tensor::contiguous(GgmlType::F32, hp.n_vocab, n_wanted);
  const Tensor in_place = backend.wrap_host(logits->data(), desc);
  const Tensor out = in_place.empty() ? ws.logits.view(hp.n_vocab, n_wanted) : in_place;
  backend.matmul(w.output.view, result_norm, out);  // result_output
  if (in_place.empty()) backend.download(out, logits->data());
  return backend.sync();
}

}  // namespace petrel::qwen35
