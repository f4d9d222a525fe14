#include "model/qwen35/moe_model.h"

#include <initializer_list>
#include <string>

#include "model/qwen35/state.h"

namespace petrel::qwen35 {
namespace {

uint64_t weight_bytes(const Weight& w) {
  if (!w.present) return 0;
  return static_cast<uint64_t>(w.view.ne[1]) * static_cast<uint64_t>(w.view.ne[2]) *
         static_cast<uint64_t>(w.view.ne[3]) * w.view.row_bytes;
}

// Every weight of a layer that is not a routed expert: what the device would hold for it.
uint64_t layer_resident_bytes(const LayerWeights& l) {
  uint64_t sum = 0;
  for (const Weight* w :
       {&l.attn_norm, &l.ffn_norm, &l.attn.attn_q, &l.attn.attn_k, &l.attn.attn_v, &l.attn.attn_output,
        &l.attn.attn_q_norm, &l.attn.attn_k_norm, &l.gdn.attn_qkv, &l.gdn.attn_gate, &l.gdn.ssm_conv1d, &l.gdn.ssm_dt,
        &l.gdn.ssm_a, &l.gdn.ssm_beta, &l.gdn.ssm_alpha, &l.gdn.ssm_ba, &l.gdn.ssm_norm, &l.gdn.ssm_out,
        &l.ffn.ffn_gate, &l.ffn.ffn_up, &l.ffn.ffn_down, &l.ffn.ffn_gate_inp, &l.ffn.ffn_gate_inp_shexp,
        &l.ffn.ffn_gate_shexp, &l.ffn.ffn_up_shexp, &l.ffn.ffn_down_shexp}) {
    sum += weight_bytes(*w);
  }
  return sum;
}

}  // namespace

ExpertWeights expert_weights(const Hparams& hp, const FfnWeights& ffn) {
  ExpertWeights e;
  e.fused = ffn.ffn_gate_up_exps.present;
  e.n_ff = hp.n_ff_exp;
  if (e.fused) {
    e.gate_up = ffn.ffn_gate_up_exps.view;
  } else {
    e.gate = ffn.ffn_gate_exps.view;
    e.up = ffn.ffn_up_exps.view;
  }
  e.down = ffn.ffn_down_exps.view;
  return e;
}

offload::MoeModel moe_model(const Hparams& hp, const ModelWeights& w, int64_t context_length) {
  offload::MoeModel m;
  m.name = hp.name;
  m.n_layer = hp.n_layer;
  m.n_expert = hp.n_expert;
  m.n_expert_used = hp.n_expert_used;
  m.n_embd = hp.n_embd;
  m.n_ff_exp = hp.n_ff_exp;
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(il)];
    if (lw.ffn.ffn_down_exps.present) m.moe_layers.push_back({il, lw.ffn.ffn_gate_inp.view, expert_weights(hp, lw.ffn)});
    offload::PlacementItem item;
    item.what = "layer " + std::to_string(il);
    item.weights = layer_resident_bytes(lw);
    if (hp.recurrent[static_cast<size_t>(il)]) {
      item.state = static_cast<uint64_t>(conv_state_floats(hp) + ssm_state_floats(hp)) * sizeof(float);
    } else {
      item.state = static_cast<uint64_t>(2 * kv_bytes_per_token(hp, il, GgmlType::F16)) *
                   static_cast<uint64_t>(context_length);
    }
    m.resident.push_back(item);
  }
  m.resident.push_back({"output head", weight_bytes(w.output_norm) + weight_bytes(w.output), 0});
  return m;
}

}  // namespace petrel::qwen35
