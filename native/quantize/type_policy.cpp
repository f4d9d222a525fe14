// type_policy.h: llama.cpp's per-tensor type rules for the quantization types petrel offers.
// The rules for types petrel does not write (IQ1/IQ2/IQ3, TQ, MXFP4) are left out.
#include "quantize/type_policy.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "gguf/reader.h"

namespace petrel {
namespace {

// tensor_category in llama-quant.cpp: broad groups found by substring.
enum class Category { token_embd, attn_q, attn_v, attn_k, attn_qkv, attn_kv_b, attn_output, ffn_up, ffn_gate, ffn_down, output, other };

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

Category category_of(const std::string& name) {
  if (name == "output.weight") return Category::output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::token_embd;
  if (contains(name, "attn_qkv.weight")) return Category::attn_qkv;
  if (contains(name, "attn_kv_b.weight")) return Category::attn_kv_b;
  if (contains(name, "attn_v.weight")) return Category::attn_v;
  if (contains(name, "attn_k.weight")) return Category::attn_k;
  if (contains(name, "attn_q.weight")) return Category::attn_q;
  if (contains(name, "attn_output.weight")) return Category::attn_output;
  if (contains(name, "ffn_up")) return Category::ffn_up;
  if (contains(name, "ffn_gate")) return Category::ffn_gate;
  if (contains(name, "ffn_down")) return Category::ffn_down;
  return Category::other;
}

// attn_v-like tensors share the "more bits" counter.
bool is_attn_v_like(Category c) { return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// tensor_allows_quantization (with quantize_output_tensor on, only_copy off).
bool allows_quantization(const std::string& name, const int64_t ne[4]) {
  if (ggml_n_dims(ne) < 2) return false;
  if (!ends_with(name, "weight")) return false;
  static const char* const kKeep[] = {
      "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
      "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
      "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
      "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
      "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
      "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
      ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};
  for (const char* k : kKeep) {
    if (contains(name, k)) return false;
  }
  // Positional embeddings and BERT token types.
  return name != "position_embd.weight" && name != "token_types.weight";
}

// sscanf(name, "blk.%d.", &layer): true when the name starts with "blk." and a number.
bool block_number(const std::string& name, int* layer) {
  if (name.compare(0, 4, "blk.") != 0) return false;
  const char* p = name.c_str() + 4;
  char* end = nullptr;
  const long v = std::strtol(p, &end, 10);
  if (end == p || v < INT32_MIN || v > INT32_MAX) return false;
  *layer = static_cast<int>(v);
  return true;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

bool is_quantized(GgmlType t) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t));
  return info && info->block_size > 1;
}

uint32_t block_size(GgmlType t) { return ggml_type_info(static_cast<uint32_t>(t))->block_size; }

struct Counters {
  int n_attention_wv = 0, i_attention_wv = 0;
  int n_ffn_down = 0, i_ffn_down = 0, n_ffn_gate = 0, i_ffn_gate = 0, n_ffn_up = 0, i_ffn_up = 0;
  bool tied = true;
};

class Policy {
 public:
  Policy(const PolicyModel& m, const QuantType& q, bool imatrix) : m_(m), ftype_(q.ftype), imatrix_(imatrix) {}

  Counters c;

  // llama_tensor_get_type_impl for the ftypes petrel offers.
  Status pick(const PolicyTensor& t, Category cat, GgmlType* type) {
    using F = LlamaFtype;
    const bool falcon = m_.arch == "falcon";
    GgmlType nt = *type;
    if (cat == Category::output || (c.tied && cat == Category::token_embd)) {
      if (falcon || t.ne[0] % block_size(nt) != 0) nt = GgmlType::Q8_0;
      else if (nt != GgmlType::Q8_0) nt = GgmlType::Q6_K;
    } else if (cat == Category::token_embd) {
      // no change for these ftypes
    } else if (is_attn_v_like(cat)) {
      if (ftype_ == F::MOSTLY_Q2_K) nt = m_.n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
      else if (ftype_ == F::MOSTLY_Q3_K_M) nt = c.i_attention_wv < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
      else if (ftype_ == F::MOSTLY_Q3_K_L) nt = GgmlType::Q5_K;
      else if ((ftype_ == F::MOSTLY_IQ4_NL || ftype_ == F::MOSTLY_IQ4_XS) && m_.n_gqa >= 4) nt = GgmlType::Q5_K;
      else if ((ftype_ == F::MOSTLY_Q4_K_M || ftype_ == F::MOSTLY_Q5_K_M) && use_more_bits(c.i_attention_wv, c.n_attention_wv)) nt = GgmlType::Q6_K;
      else if (ftype_ == F::MOSTLY_Q4_K_S && c.i_attention_wv < 4) nt = GgmlType::Q5_K;
      if (m_.is_70b && (nt == GgmlType::Q3_K || nt == GgmlType::Q4_K)) nt = GgmlType::Q5_K;
      if (m_.n_expert == 8) nt = GgmlType::Q8_0;
      ++c.i_attention_wv;
    } else if (cat == Category::attn_k) {
      if (m_.n_expert == 8) nt = GgmlType::Q8_0;
    } else if (cat == Category::ffn_down) {
      int i_layer = c.i_ffn_down, n_layer = c.n_ffn_down;
      PETREL_RETURN_IF_ERROR(layer_info(t.name, &i_layer, n_layer));
      if (ftype_ == F::MOSTLY_Q2_K) {
        nt = GgmlType::Q3_K;
      } else if (ftype_ == F::MOSTLY_Q3_K_M) {
        nt = i_layer < n_layer / 16 ? GgmlType::Q5_K : (!falcon || use_more_bits(i_layer, n_layer)) ? GgmlType::Q4_K : GgmlType::Q3_K;
      } else if (ftype_ == F::MOSTLY_Q3_K_L) {
        nt = falcon ? GgmlType::Q4_K : GgmlType::Q5_K;
      } else if (ftype_ == F::MOSTLY_Q4_K_M) {
        if (falcon) {
          nt = i_layer < n_layer / 16 ? GgmlType::Q6_K : use_more_bits(i_layer, n_layer) ? GgmlType::Q5_K : GgmlType::Q4_K;
        } else if (use_more_bits(i_layer, n_layer)) {
          nt = GgmlType::Q6_K;
        }
      } else if (i_layer < n_layer / 8 && (ftype_ == F::MOSTLY_IQ4_NL || ftype_ == F::MOSTLY_IQ4_XS) && !imatrix_) {
        nt = GgmlType::Q5_K;
      } else if (ftype_ == F::MOSTLY_Q5_K_M && use_more_bits(i_layer, n_layer)) {
        nt = GgmlType::Q6_K;
      } else if (ftype_ == F::MOSTLY_Q4_K_S && !falcon && i_layer < n_layer / 8) {
        nt = GgmlType::Q5_K;
      } else if ((ftype_ == F::MOSTLY_Q4_0 || ftype_ == F::MOSTLY_Q5_0) && imatrix_ && i_layer < n_layer / 8) {
        // llama.cpp guards the first ffn_down layers of imatrix Q4_0/Q5_0 with a min.
        nt = ftype_ == F::MOSTLY_Q4_0 ? GgmlType::Q4_1 : GgmlType::Q5_1;
      }
      ++c.i_ffn_down;
    } else if (cat == Category::attn_output) {
      if (!falcon) {
        if (m_.n_expert == 8) {
          if (ftype_ == F::MOSTLY_Q2_K || ftype_ == F::MOSTLY_Q3_K_S || ftype_ == F::MOSTLY_Q3_K_M ||
              ftype_ == F::MOSTLY_IQ4_NL || ftype_ == F::MOSTLY_Q4_K_S || ftype_ == F::MOSTLY_Q4_K_M ||
              ftype_ == F::MOSTLY_IQ4_XS) {
            nt = GgmlType::Q5_K;
          }
        } else {
          if (ftype_ == F::MOSTLY_Q2_K) nt = GgmlType::Q3_K;
          else if (ftype_ == F::MOSTLY_Q3_K_M) nt = GgmlType::Q4_K;
          else if (ftype_ == F::MOSTLY_Q3_K_L) nt = GgmlType::Q5_K;
        }
      } else if (ftype_ == F::MOSTLY_Q3_K_L) {
        nt = GgmlType::Q4_K;
      }
    } else if (cat == Category::ffn_gate || cat == Category::ffn_up) {
      // Only IQ3_XS changes these; the layer is still checked (and the counter kept) as llama.cpp does.
      int& i = cat == Category::ffn_gate ? c.i_ffn_gate : c.i_ffn_up;
      int i_layer = i;
      PETREL_RETURN_IF_ERROR(layer_info(t.name, &i_layer, cat == Category::ffn_gate ? c.n_ffn_gate : c.n_ffn_up));
      ++i;
    }
    *type = nt;
    return Status::ok_status();
  }

 private:
  // MoE experts are not consecutive in every model, so the layer comes from the name there.
  Status layer_info(const std::string& name, int* i_layer, int n_layer) const {
    if (std::max<uint32_t>(1, m_.n_expert) <= 1) return Status::ok_status();
    if (!block_number(name, i_layer)) {
      return Status(StatusCode::invalid_argument, "cannot tell the layer of tensor " + gguf_quote(name));
    }
    if (*i_layer < 0 || *i_layer >= n_layer) {
      return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(name) + " is in layer " + std::to_string(*i_layer) +
                                                      ", outside [0, " + std::to_string(n_layer) + ")");
    }
    return Status::ok_status();
  }

  const PolicyModel& m_;
  LlamaFtype ftype_;
  bool imatrix_;
};

// tensor_type_fallback: a type whose block does not divide the row length.
Status fallback(const PolicyTensor& t, GgmlType* type, bool* used) {
  if (t.ne[0] % block_size(*type) == 0) return Status::ok_status();
  *used = true;
  GgmlType r;
  switch (*type) {
    case GgmlType::IQ4_XS: r = GgmlType::IQ4_NL; break;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K: r = GgmlType::Q4_0; break;
    case GgmlType::Q4_K: r = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: r = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: r = GgmlType::Q8_0; break;
    default:
      return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": row length " + std::to_string(t.ne[0]) +
                                                      " is not a multiple of the " +
                                                      ggml_type_info(static_cast<uint32_t>(*type))->name + " block size");
  }
  // Still no fit (a row length not a multiple of 32): llama.cpp stores such a tensor as F16.
  if (t.ne[0] % block_size(r) != 0) r = GgmlType::F16;
  *type = r;
  return Status::ok_status();
}

}  // namespace

int ggml_n_dims(const int64_t ne[4]) {
  for (int i = 3; i >= 1; --i) {
    if (ne[i] > 1) return i + 1;
  }
  return 1;
}

std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names) {
  std::vector<int> layer(names.size(), -1);
  for (size_t i = 0; i < names.size(); ++i) block_number(names[i], &layer[i]);
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (layer[a] != layer[b]) return layer[a] < layer[b];
    return names[a] < names[b];
  });
  return order;
}

Status choose_tensor_types(const PolicyModel& model, const QuantType& qtype, bool has_imatrix,
                           const std::vector<PolicyTensor>& tensors, std::vector<TypeChoice>* out) {
  std::vector<std::string> names;
  names.reserve(tensors.size());
  for (const PolicyTensor& t : tensors) names.push_back(t.name);
  const std::vector<size_t> order = llama_tensor_order(names);

  Policy policy(model, qtype, has_imatrix);
  std::vector<Category> cats(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    cats[i] = category_of(tensors[i].name);
    if (is_attn_v_like(cats[i])) ++policy.c.n_attention_wv;
    if (cats[i] == Category::output) policy.c.tied = false;
  }
  policy.c.n_ffn_down = policy.c.n_ffn_gate = policy.c.n_ffn_up = static_cast<int>(model.n_layer_all);

  out->assign(tensors.size(), TypeChoice());
  for (size_t i : order) {
    const PolicyTensor& t = tensors[i];
    TypeChoice& choice = (*out)[i];
    choice.type = t.type;
    if (!allows_quantization(t.name, t.ne)) continue;
    GgmlType nt = qtype.default_type;
    if (is_quantized(nt)) {
      PETREL_RETURN_IF_ERROR(policy.pick(t, cats[i], &nt));
      PETREL_RETURN_IF_ERROR(fallback(t, &nt, &choice.fallback));
    }
    choice.type = nt;
  }
  for (size_t i = 0; i < tensors.size(); ++i) (*out)[i].quantize = (*out)[i].type != tensors[i].type;
  return Status::ok_status();
}

}  // namespace petrel
