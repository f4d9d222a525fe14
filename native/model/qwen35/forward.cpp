// The model loop (qwen35-gguf.md §3.0): embedding lookup, pre-norm residual blocks with a
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

  // Rows whose logits are wanted: [first, n). The last layer's output feeds nothing but the
  // logits, so past its mixer only these rows go on (llama.cpp's inp_out_ids does the same after
  // the mixer; here the mixer also skips the other rows' queries and output projections). The
  // kept rows get the values they would get with every row computed, up to float rounding: the
  // products are per token, but attention splits its work by the number of query rows.
  const int64_t first = rows == OutputRows::all ? 0 : rows == OutputRows::last ? n - 1 : n;
  const int64_t n_out = n - first;

  if (offload != nullptr) offload->begin_step(n, pos0);
  backend.get_rows(w.token_embd.view, tokens, n, h);  // inp_embd
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(il)];
    LayerState& ls = st->layers[static_cast<size_t>(il)];
    const bool last_layer = il == hp.n_layer - 1;
    const int64_t first_out = last_layer ? first : 0;
    const int64_t m = n - first_out;  // rows past the mixer
    float* hm = h + first_out * n_embd;
    backend.rms_norm(h, lw.attn_norm.f32, n_embd, n, hp.rms_eps, normed);  // attn_norm-il
    if (hp.recurrent[static_cast<size_t>(il)]) {
      deltanet_layer(ctx, lw.gdn, ls, normed, first_out, mixer_out);  // linear_attn_out-il
    } else {
      attention_layer(ctx, il, lw.attn, ls, normed, first_out, mixer_out);  // attn_output-il
    }
    if (m == 0) break;
    add_in_place(hm, mixer_out, m * n_embd);  // ffn_inp-il
    backend.rms_norm(hm, lw.ffn_norm.f32, n_embd, m, hp.rms_eps, normed);  // attn_post_norm-il / ffn_norm-il
    LayerContext ffn_ctx = ctx;
    ffn_ctx.n_tokens = m;
    ffn_ctx.pos0 = pos0 + first_out;
    ffn_ctx.positions = positions + first_out;
    if (hp.is_moe()) {
      moe_ffn(ffn_ctx, il, lw.ffn, normed, ffn_out);
    } else {
      dense_ffn(ffn_ctx, lw.ffn, normed, ffn_out);
    }
    add_in_place(hm, ffn_out, m * n_embd);  // l_out-il
  }
  st->n_pos = pos0 + n;
  if (offload != nullptr) offload->end_step();

  if (n_out == 0) {
    logits->clear();
    return;
  }
  float* result_norm = scratch(ws.result_norm, n_out * n_embd);
  backend.rms_norm(h + first * n_embd, w.output_norm.f32, n_embd, n_out, hp.rms_eps, result_norm);  // result_norm
  logits->resize(static_cast<size_t>(n_out * hp.n_vocab));
  backend.matmul(w.output.view, result_norm, n_out, logits->data());  // result_output
}

}  // namespace petrel::qwen35
