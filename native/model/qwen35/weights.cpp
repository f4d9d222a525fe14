// Weight binding: finds each tensor by its GGUF name, checks its shape against the
// hyperparameters and its type against what petrel can convert, and records a view into the
// memory map. Tensor data is not touched, except for the few small vector tensors stored in a
// type other than F32 (converted once, a few KiB). The MTP block blk.{n_layer} is never looked at.
#include "model/qwen35/weights.h"

#include <initializer_list>

#include "gguf/model_files.h"
#include "quant/convert.h"

namespace petrel::qwen35 {
namespace {

std::string shape_string(std::initializer_list<int64_t> shape) {
  std::string s = "[";
  bool first = true;
  for (int64_t d : shape) {
    s += (first ? "" : ", ") + std::to_string(d);
    first = false;
  }
  return s + "]";
}

class Binder {
 public:
  Binder(const GgufModel& gguf, std::string what, ModelWeights* mw) : gguf_(gguf), what_(std::move(what)), mw_(mw) {}

  // Binds `name` with the expected shape (ggml order; trailing 1s need not be stored).
  // Optional tensors that are absent leave w->present false. `vector` tensors also get f32 values.
  Status bind(const std::string& name, std::initializer_list<int64_t> shape, Weight* w, bool required = true,
              bool vector = false) {
    const GgufTensorInfo* t = gguf_.find_tensor(name);
    if (!t) {
      if (!required) return Status();
      return Status(StatusCode::corrupt_file, what_ + ": missing tensor " + gguf_quote(name) + " (expected shape " +
                                                  shape_string(shape) + ")");
    }
    int64_t expected[4] = {1, 1, 1, 1};
    size_t i = 0;
    for (int64_t d : shape) expected[i++] = d;
    for (size_t d = 0; d < 4; ++d) {
      if (t->ne[d] != expected[d]) {
        return Status(StatusCode::corrupt_file, what_ + ": tensor " + gguf_quote(name) + " has shape " +
                                                    gguf_shape_string(t->ne, t->n_dims) + ", expected " +
                                                    shape_string(shape));
      }
    }
    // NVFP4 files carry "<w>.scale" multipliers that llama.cpp applies to the matmul output; this
    // engine does not, so refuse such files instead of computing wrong logits.
    if (name.size() > 7 && name.ends_with(".weight") && gguf_.find_tensor(name.substr(0, name.size() - 7) + ".scale")) {
      return Status(StatusCode::unsupported, what_ + ": tensor " + gguf_quote(name) +
                                                 " has a per-tensor scale (" + name.substr(0, name.size() - 7) +
                                                 ".scale), which petrel does not support");
    }
    if (!can_dequantize(t->type->type)) {
      return Status(StatusCode::unsupported, what_ + ": tensor " + gguf_quote(name) + " has type " + t->type->name +
                                                 ", which petrel cannot compute with");
    }
    uint64_t row_bytes = 0;
    if (!ggml_row_bytes(*t->type, static_cast<uint64_t>(t->ne[0]), &row_bytes)) {
      return Status(StatusCode::corrupt_file, what_ + ": tensor " + gguf_quote(name) + ": rows of " +
                                                  std::to_string(t->ne[0]) + " are not whole " + t->type->name +
                                                  " blocks");
    }
    WeightView& v = w->view;
    v.type = t->type->type;
    for (size_t d = 0; d < 4; ++d) v.ne[d] = t->ne[d];
    v.data = t->data;
    v.row_bytes = row_bytes;
    v.name = t->name.c_str();  // GgufModel owns the name for the model's lifetime
    w->present = true;
    if (vector) {
      if (v.type == GgmlType::F32) {
        w->f32 = reinterpret_cast<const float*>(t->data);
      } else {
        std::vector<float> values(static_cast<size_t>(t->n_elements));
        const Status st = dequantize_row(v.type, t->data, values.data(), static_cast<int64_t>(t->n_elements));
        if (!st.ok()) return Status(st.code(), what_ + ": tensor " + gguf_quote(name) + ": " + st.message());
        mw_->converted.push_back(std::move(values));
        w->f32 = mw_->converted.back().data();
      }
    }
    return Status();
  }

  bool has(const std::string& name) const { return gguf_.find_tensor(name) != nullptr; }
  const GgufTensorInfo* find(const std::string& name) const { return gguf_.find_tensor(name); }
  const std::string& what() const { return what_; }

 private:
  const GgufModel& gguf_;
  std::string what_;
  ModelWeights* mw_;
};

Status bind_attention(Binder& b, const Hparams& hp, int32_t il, AttentionWeights* w) {
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t e = hp.n_embd;
  const int64_t hd = hp.head_dim;
  const int64_t nh = hp.n_head[static_cast<size_t>(il)];
  const int64_t nkv = hp.n_head_kv[static_cast<size_t>(il)];
  const int64_t q_rows = (hp.gated_attention ? 2 : 1) * nh * hd;
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_q.weight", {e, q_rows}, &w->attn_q));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_k.weight", {e, nkv * hd}, &w->attn_k));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_v.weight", {e, nkv * hd}, &w->attn_v));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_output.weight", {nh * hd, e}, &w->attn_output));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_q_norm.weight", {hd}, &w->attn_q_norm, true, true));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_k_norm.weight", {hd}, &w->attn_k_norm, true, true));
  return Status();
}

Status bind_deltanet(Binder& b, const Hparams& hp, int32_t il, DeltaNetWeights* w) {
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t e = hp.n_embd;
  const int64_t n_v_heads = hp.ssm_n_v_heads;
  if (!b.has(p + "attn_qkv.weight") && b.has(p + "ssm_in.weight")) {
    return Status(StatusCode::unsupported,
                  b.what() + ": tensor " + gguf_quote(p + "ssm_in.weight") +
                      " is the legacy fused qkvz projection of qwen3next GGUFs converted before 2026-01; petrel reads "
                      "only the current layout (attn_qkv + attn_gate): re-convert the model with a current llama.cpp");
  }
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_qkv.weight", {e, hp.ssm_conv_dim()}, &w->attn_qkv));
  PETREL_RETURN_IF_ERROR(b.bind(p + "attn_gate.weight", {e, hp.ssm_d_inner}, &w->attn_gate));
  PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_conv1d.weight", {hp.ssm_d_conv, hp.ssm_conv_dim()}, &w->ssm_conv1d, true, true));
  PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_dt.bias", {n_v_heads}, &w->ssm_dt, true, true));
  PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_a", {n_v_heads}, &w->ssm_a, true, true));
  // qwen3next packs beta and alpha into ssm_ba; qwen35 files (and some qwen3next ones) keep them apart.
  const bool fused_ba = hp.arch == Arch::qwen3next && b.has(p + "ssm_ba.weight");
  if (fused_ba) {
    PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_ba.weight", {e, 2 * n_v_heads}, &w->ssm_ba));
  } else {
    PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_beta.weight", {e, n_v_heads}, &w->ssm_beta));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_alpha.weight", {e, n_v_heads}, &w->ssm_alpha));
  }
  PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_norm.weight", {hp.ssm_head_v_dim()}, &w->ssm_norm, true, true));
  PETREL_RETURN_IF_ERROR(b.bind(p + "ssm_out.weight", {hp.ssm_d_inner, e}, &w->ssm_out));
  return Status();
}

Status bind_ffn(Binder& b, const Hparams& hp, int32_t il, FfnWeights* w) {
  const std::string p = "blk." + std::to_string(il) + ".";
  const int64_t e = hp.n_embd;
  if (!hp.is_moe()) {
    const int64_t ff = hp.n_ff[static_cast<size_t>(il)];
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate.weight", {e, ff}, &w->ffn_gate));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_up.weight", {e, ff}, &w->ffn_up));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_down.weight", {ff, e}, &w->ffn_down));
    return Status();
  }
  const int64_t ne = hp.n_expert;
  const int64_t ff = hp.n_ff_exp;
  PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate_inp.weight", {e, ne}, &w->ffn_gate_inp));
  if (b.has(p + "ffn_gate_up_exps.weight")) {
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate_up_exps.weight", {e, 2 * ff, ne}, &w->ffn_gate_up_exps));
  } else {
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate_exps.weight", {e, ff, ne}, &w->ffn_gate_exps));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_up_exps.weight", {e, ff, ne}, &w->ffn_up_exps));
  }
  PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_down_exps.weight", {ff, e, ne}, &w->ffn_down_exps));
  if (hp.has_shared_expert) {
    const int64_t sh = hp.n_ff_shexp;
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate_inp_shexp.weight", {e}, &w->ffn_gate_inp_shexp, true, true));
    WeightView& row = w->shexp_gate_row;
    row = w->ffn_gate_inp_shexp.view;
    row.type = GgmlType::F32;
    row.ne[0] = e;
    row.ne[1] = 1;
    row.data = reinterpret_cast<const uint8_t*>(w->ffn_gate_inp_shexp.f32);
    row.row_bytes = static_cast<uint64_t>(e) * sizeof(float);
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_gate_shexp.weight", {e, sh}, &w->ffn_gate_shexp));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_up_shexp.weight", {e, sh}, &w->ffn_up_shexp));
    PETREL_RETURN_IF_ERROR(b.bind(p + "ffn_down_shexp.weight", {sh, e}, &w->ffn_down_shexp));
  }
  return Status();
}

}  // namespace

Status bind_weights(const GgufModel& gguf, const std::string& what, Hparams* hp, ModelWeights* out) {
  ModelWeights mw;
  Binder b(gguf, what, &mw);
  mw.n_tensors = gguf.tensors().size();

  const GgufTensorInfo* embd = b.find("token_embd.weight");
  if (!embd) return Status(StatusCode::corrupt_file, what + ": missing tensor 'token_embd.weight'");
  if (embd->ne[1] < 1 || embd->ne[1] > 0x7fffffff) {
    return Status(StatusCode::corrupt_file, what + ": tensor 'token_embd.weight' has no usable vocabulary size");
  }
  hp->n_vocab = static_cast<int32_t>(embd->ne[1]);
  const int64_t e = hp->n_embd;
  PETREL_RETURN_IF_ERROR(b.bind("token_embd.weight", {e, hp->n_vocab}, &mw.token_embd));
  PETREL_RETURN_IF_ERROR(b.bind("output_norm.weight", {e}, &mw.output_norm, true, true));
  PETREL_RETURN_IF_ERROR(b.bind("output.weight", {e, hp->n_vocab}, &mw.output, false));
  if (!mw.output.present) {
    mw.output = mw.token_embd;  // tied LM head
    mw.tied_output = true;
  }

  const char* ffn_norm_name = hp->is_hybrid() ? "post_attention_norm.weight" : "ffn_norm.weight";
  mw.layers.resize(static_cast<size_t>(hp->n_layer));
  for (int32_t il = 0; il < hp->n_layer; ++il) {
    LayerWeights& lw = mw.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    PETREL_RETURN_IF_ERROR(b.bind(p + "attn_norm.weight", {e}, &lw.attn_norm, true, true));
    PETREL_RETURN_IF_ERROR(b.bind(p + ffn_norm_name, {e}, &lw.ffn_norm, true, true));
    if (hp->recurrent[static_cast<size_t>(il)]) {
      PETREL_RETURN_IF_ERROR(bind_deltanet(b, *hp, il, &lw.gdn));
    } else {
      PETREL_RETURN_IF_ERROR(bind_attention(b, *hp, il, &lw.attn));
    }
    PETREL_RETURN_IF_ERROR(bind_ffn(b, *hp, il, &lw.ffn));
  }
  *out = std::move(mw);
  return Status();
}

void for_each_matrix(ModelWeights* w, const std::function<void(WeightView*)>& fn) {
  auto visit = [&](Weight& x) {
    if (x.present && x.view.data != nullptr) fn(&x.view);
  };
  for (LayerWeights& l : w->layers) {
    for (Weight* x : {&l.attn.attn_q, &l.attn.attn_k, &l.attn.attn_v, &l.attn.attn_output, &l.gdn.attn_qkv, &l.gdn.attn_gate,
                      &l.gdn.ssm_beta, &l.gdn.ssm_alpha, &l.gdn.ssm_ba, &l.gdn.ssm_out, &l.ffn.ffn_gate, &l.ffn.ffn_up,
                      &l.ffn.ffn_down, &l.ffn.ffn_gate_inp, &l.ffn.ffn_gate_exps, &l.ffn.ffn_up_exps, &l.ffn.ffn_gate_up_exps,
                      &l.ffn.ffn_down_exps, &l.ffn.ffn_gate_shexp, &l.ffn.ffn_up_shexp, &l.ffn.ffn_down_shexp}) {
      visit(*x);
    }
    if (l.ffn.shexp_gate_row.data != nullptr) fn(&l.ffn.shexp_gate_row);
  }
  visit(w->output);
}

Status prepare_vectors(Backend& backend, ModelWeights* w) {
  auto prepare = [&](Weight& x) {
    if (x.f32 == nullptr) return Status();
    const WeightView& v = x.view;
    return backend.constant(x.f32, Tensor::contiguous(GgmlType::F32, v.ne[0], v.ne[1], v.ne[2], v.ne[3]), &x.tensor);
  };
  PETREL_RETURN_IF_ERROR(prepare(w->output_norm));
  for (LayerWeights& l : w->layers) {
    for (Weight* x : {&l.attn_norm, &l.ffn_norm, &l.attn.attn_q_norm, &l.attn.attn_k_norm, &l.gdn.ssm_conv1d,
                      &l.gdn.ssm_dt, &l.gdn.ssm_a, &l.gdn.ssm_norm, &l.ffn.ffn_gate_inp_shexp}) {
      PETREL_RETURN_IF_ERROR(prepare(*x));
    }
  }
  return Status();
}

}  // namespace petrel::qwen35
