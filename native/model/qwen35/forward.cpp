// The model loop (docs/MODEL.md#decoder-stack): embedding lookup, pre-norm residual blocks with a
// DeltaNet or attention mixer and a dense or MoE FFN, final RMSNorm, LM head. No embedding scale,
// no logit soft-cap. Logits are computed only for the rows the caller asked for.
#include "model/qwen35/forward.h"

#include "model/qwen35/activations.h"
#include "offload/expert_offload.h"

namespace petrel::qwen35 {

void forward(const Hparams& hp, const ModelWeights& w, Backend& backend, offload::ExpertOffload* offload, Workspace& ws,
             SequenceState* st, const int32_t* tokens, int64_t n, OutputRows rows, std::vector<float>* logits) {
  const int64_t n_embd = hp.n_embd;
  const int64_t pos0 = st->n_pos;
  if (ws.positions.size() < static_cast<size_t>(n)) ws.positions.resize(static_cast<size_t>(n));
  int32_t* positions = ws.positions.data();
  for (int64_t t = 0; t < n; ++t) positions[t] = static_cast<int32_t>(pos0 + t);

  float* h = scratch(ws.h, n * n_embd);
  float* normed = scratch(ws.normed, n * n_embd);
  float* mixer_out = scratch(ws.mixer_out, n * n_embd);
  float* ffn_out = scratch(ws.ffn_out, n * n_embd);
  const LayerContext ctx{hp, backend, ws, n, pos0, positions, st->kv_type, st->kv_capacity, offload};

  // Rows whose logits are wanted: [first_wanted, n). The last layer's output feeds nothing but the
  // logits, so past its mixer only these rows go on (llama.cpp's inp_out_ids does the same after
  // the mixer; here the mixer also skips the other rows' queries and output projections). The
  // kept rows get the values they would get with every row computed, up to float rounding: the
  // products are per token, but attention splits its work by the number of query rows.
  const int64_t first_wanted = rows == OutputRows::all ? 0 : rows == OutputRows::last ? n - 1 : n;
  const int64_t n_wanted = n - first_wanted;

  if (offload != nullptr) offload->begin_step(n, pos0);
  backend.get_rows(w.token_embd.view, tokens, n, h);  // inp_embd
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(il)];
    LayerState& ls = st->layers[static_cast<size_t>(il)];
    const bool last_layer = il == hp.n_layer - 1;
    // The rows that go on past the mixer: [first_kept, n).
    const int64_t first_kept = last_layer ? first_wanted : 0;
    const int64_t n_kept = n - first_kept;
    float* h_kept = h + first_kept * n_embd;
    backend.rms_norm(h, lw.attn_norm.f32, n_embd, n, hp.rms_eps, normed);  // attn_norm-il
    if (hp.recurrent[static_cast<size_t>(il)]) {
      deltanet_layer(ctx, lw.gdn, ls, normed, first_kept, mixer_out);  // linear_attn_out-il
    } else {
      attention_layer(ctx, il, lw.attn, ls, normed, first_kept, mixer_out);  // attn_output-il
    }
    if (n_kept == 0) break;
    add_in_place(h_kept, mixer_out, n_kept * n_embd);  // ffn_inp-il
    backend.rms_norm(h_kept, lw.ffn_norm.f32, n_embd, n_kept, hp.rms_eps, normed);  // attn_post_norm-il / ffn_norm-il
    LayerContext ffn_ctx = ctx;
    ffn_ctx.n_tokens = n_kept;
    ffn_ctx.pos0 = pos0 + first_kept;
    ffn_ctx.positions = positions + first_kept;
    if (hp.is_moe()) {
      moe_ffn(ffn_ctx, il, lw.ffn, normed, ffn_out);
    } else {
      dense_ffn(ffn_ctx, lw.ffn, normed, ffn_out);
    }
    add_in_place(h_kept, ffn_out, n_kept * n_embd);  // l_out-il
  }
  st->n_pos = pos0 + n;
  if (offload != nullptr) offload->end_step();

  if (n_wanted == 0) {
    logits->clear();
    return;
  }
  float* result_norm = scratch(ws.result_norm, n_wanted * n_embd);
  backend.rms_norm(h + first_wanted * n_embd, w.output_norm.f32, n_embd, n_wanted, hp.rms_eps, result_norm);  // result_norm
  logits->resize(static_cast<size_t>(n_wanted * hp.n_vocab));
  backend.matmul(w.output.view, result_norm, n_wanted, logits->data());  // result_output
}

}  // namespace petrel::qwen35
