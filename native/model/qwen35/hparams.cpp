// Reads the Qwen3.5-family hyperparameters from GGUF metadata (docs/GGUF.md#metadata-keys), with
// llama.cpp's defaults for optional keys, and rejects anything the forward pass could not run
// exactly (inconsistent head counts, RoPE scaling we do not implement, ...), naming the key.
#include "model/qwen35/hparams.h"

#include <cmath>
#include <optional>

#include "gguf/model_files.h"

namespace petrel::qwen35 {

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::qwen35: return "qwen35";
    case Arch::qwen35moe: return "qwen35moe";
    case Arch::qwen3next: return "qwen3next";
    case Arch::qwen3: return "qwen3";
    case Arch::qwen3moe: return "qwen3moe";
  }
  return "?";
}

int32_t Hparams::n_recurrent() const {
  int32_t n = 0;
  for (bool r : recurrent) n += r ? 1 : 0;
  return n;
}

namespace {

// Metadata access for one file and arch prefix; every error names the key.
class KeyReader {
 public:
  KeyReader(const GgufModel& gguf, std::string what, std::string prefix)
      : gguf_(gguf), what_(std::move(what)), prefix_(std::move(prefix)) {}

  std::string key(const std::string& k) const { return prefix_ + "." + k; }
  const GgufValue* find(const std::string& k) const { return gguf_.find(key(k)); }

  Status missing(const std::string& k) const {
    return Status(StatusCode::corrupt_file, what_ + ": missing metadata key " + key(k));
  }
  Status bad(const std::string& k, const std::string& why) const {
    return Status(StatusCode::corrupt_file, what_ + ": metadata key " + key(k) + " " + why);
  }

  // A non-negative integer scalar that fits int32; `fallback` when absent (nullopt: required).
  Status u32(const std::string& k, std::optional<int64_t> fallback, int32_t* out) const {
    const GgufValue* v = find(k);
    if (!v) {
      if (!fallback) return missing(k);
      *out = static_cast<int32_t>(*fallback);
      return Status();
    }
    if (v->is_array()) return bad(k, "must be a number, not an array");
    const std::optional<uint64_t> u = v->to_uint();
    if (!u || *u > 0x7fffffffu) return bad(k, "must be a non-negative integer below 2^31");
    *out = static_cast<int32_t>(*u);
    return Status();
  }

  Status u64(const std::string& k, std::optional<int64_t> fallback, int64_t* out) const {
    const GgufValue* v = find(k);
    if (!v) {
      if (!fallback) return missing(k);
      *out = *fallback;
      return Status();
    }
    const std::optional<uint64_t> u = v->is_array() ? std::nullopt : v->to_uint();
    if (!u || *u > (uint64_t{1} << 40)) return bad(k, "must be a non-negative integer");
    *out = static_cast<int64_t>(*u);
    return Status();
  }

  Status f32(const std::string& k, std::optional<double> fallback, float* out) const {
    const GgufValue* v = find(k);
    if (!v) {
      if (!fallback) return missing(k);
      *out = static_cast<float>(*fallback);
      return Status();
    }
    const std::optional<double> d = v->is_array() ? std::nullopt : v->to_double();
    if (!d || !std::isfinite(*d)) return bad(k, "must be a finite number");
    *out = static_cast<float>(*d);
    return Status();
  }

  // A scalar or a per-layer array (llama.cpp's get_key_or_arr), n values out.
  Status per_layer(const std::string& k, std::optional<int64_t> fallback, int32_t n, std::vector<int32_t>* out) const {
    const GgufValue* v = find(k);
    out->assign(static_cast<size_t>(n), 0);
    if (!v) {
      if (!fallback) return missing(k);
      out->assign(static_cast<size_t>(n), static_cast<int32_t>(*fallback));
      return Status();
    }
    if (!v->is_array()) {
      int32_t x = 0;
      PETREL_RETURN_IF_ERROR(u32(k, fallback, &x));
      out->assign(static_cast<size_t>(n), x);
      return Status();
    }
    if (v->size() < static_cast<uint64_t>(n)) return bad(k, "has fewer entries than block_count");
    for (int32_t i = 0; i < n; ++i) {
      const std::optional<uint64_t> u = v->item_type() == GgufType::STRING || v->item_type() == GgufType::ARRAY
                                            ? std::nullopt
                                            : v->item(static_cast<uint64_t>(i)).to_uint();
      if (!u || *u > 0x7fffffffu) return bad(k, "must hold non-negative integers");
      (*out)[static_cast<size_t>(i)] = static_cast<int32_t>(*u);
    }
    return Status();
  }

  const std::string& what() const { return what_; }

 private:
  const GgufModel& gguf_;
  std::string what_;
  std::string prefix_;
};

Status parse_arch(const GgufModel& gguf, const std::string& what, Arch* arch, std::string* name) {
  const GgufValue* v = gguf.find("general.architecture");
  if (!v || !v->as_string()) {
    return Status(StatusCode::corrupt_file, what + ": missing metadata key general.architecture");
  }
  *name = *v->as_string();
  if (*name == "qwen35") *arch = Arch::qwen35;
  else if (*name == "qwen35moe") *arch = Arch::qwen35moe;
  else if (*name == "qwen3next") *arch = Arch::qwen3next;
  else if (*name == "qwen3") *arch = Arch::qwen3;
  else if (*name == "qwen3moe") *arch = Arch::qwen3moe;
  else {
    return Status(StatusCode::unsupported, what + ": architecture " + gguf_quote(*name) +
                                               " is not supported (petrel runs qwen35, qwen35moe, qwen3next, qwen3, qwen3moe)");
  }
  return Status();
}

// The layer pattern: attention.recurrent_layers when present, else full_attention_interval.
Status read_layer_pattern(const KeyReader& keys, Hparams* hp) {
  hp->recurrent.assign(static_cast<size_t>(hp->n_layer), false);
  if (!hp->is_hybrid()) return Status();
  if (const GgufValue* flags = keys.find("attention.recurrent_layers")) {
    if (!flags->is_array() || flags->item_type() == GgufType::STRING || flags->item_type() == GgufType::ARRAY) {
      return keys.bad("attention.recurrent_layers", "must be an array of booleans");
    }
    if (flags->size() < static_cast<uint64_t>(hp->n_layer)) {
      return keys.bad("attention.recurrent_layers", "has fewer entries than the trunk layers");
    }
    for (int32_t il = 0; il < hp->n_layer; ++il) {
      const GgufValue item = flags->item(static_cast<uint64_t>(il));
      const std::optional<bool> b = item.to_bool();
      const std::optional<uint64_t> u = b ? std::nullopt : item.to_uint();
      if (!b && !u) return keys.bad("attention.recurrent_layers", "must be an array of booleans");
      hp->recurrent[static_cast<size_t>(il)] = b ? *b : (*u != 0);
    }
    return Status();
  }
  int32_t interval = 4;
  PETREL_RETURN_IF_ERROR(keys.u32("full_attention_interval", 4, &interval));
  if (interval < 1) return keys.bad("full_attention_interval", "must be at least 1");
  for (int32_t il = 0; il < hp->n_layer; ++il) hp->recurrent[static_cast<size_t>(il)] = (il + 1) % interval != 0;
  return Status();
}

Status read_attention(const KeyReader& keys, Hparams* hp) {
  const int32_t n = hp->n_layer;
  PETREL_RETURN_IF_ERROR(keys.per_layer("attention.head_count", std::nullopt, n, &hp->n_head));
  PETREL_RETURN_IF_ERROR(keys.per_layer("attention.head_count_kv", -1, n, &hp->n_head_kv));
  int32_t any_head = 0;
  for (int32_t il = 0; il < n; ++il) {
    int32_t& kv = hp->n_head_kv[static_cast<size_t>(il)];
    const int32_t h = hp->n_head[static_cast<size_t>(il)];
    if (kv < 0) kv = h;  // llama.cpp: head_count_kv defaults to head_count
    if (hp->recurrent[static_cast<size_t>(il)]) continue;
    if (h <= 0 || kv <= 0 || h % kv != 0) {
      return keys.bad("attention.head_count", "/ head_count_kv must be positive with head_count a multiple of head_count_kv (layer " +
                                                   std::to_string(il) + ")");
    }
    any_head = h;
  }
  const int32_t default_head_dim = any_head > 0 ? hp->n_embd / any_head : 0;
  int32_t key_length = 0;
  int32_t value_length = 0;
  PETREL_RETURN_IF_ERROR(keys.u32("attention.key_length", default_head_dim, &key_length));
  PETREL_RETURN_IF_ERROR(keys.u32("attention.value_length", key_length, &value_length));
  if (any_head > 0) {
    if (key_length <= 0) return keys.bad("attention.key_length", "must be positive");
    if (value_length != key_length) {
      return Status(StatusCode::unsupported, keys.what() + ": attention.value_length " + std::to_string(value_length) +
                                                 " differs from key_length " + std::to_string(key_length));
    }
  }
  hp->head_dim = key_length;
  PETREL_RETURN_IF_ERROR(keys.u32("rope.dimension_count", key_length, &hp->n_rot));
  if (any_head > 0 && (hp->n_rot <= 0 || hp->n_rot % 2 != 0 || hp->n_rot > hp->head_dim)) {
    return keys.bad("rope.dimension_count", "must be even and at most the head size");
  }
  PETREL_RETURN_IF_ERROR(keys.f32("rope.freq_base", 10000.0, &hp->rope_freq_base));
  if (!(hp->rope_freq_base > 0)) return keys.bad("rope.freq_base", "must be positive");
  // RoPE scaling changes every position's angles; refuse it rather than run it wrong.
  if (const GgufValue* t = keys.find("rope.scaling.type"); t && t->as_string() && *t->as_string() != "none") {
    float factor = 1.0f;
    PETREL_RETURN_IF_ERROR(keys.f32("rope.scaling.factor", 1.0, &factor));
    if (factor != 1.0f && factor != 0.0f) {
      return Status(StatusCode::unsupported, keys.what() + ": RoPE scaling " + gguf_quote(*t->as_string()) +
                                                 " is not supported");
    }
  }
  float scale_linear = 1.0f;
  PETREL_RETURN_IF_ERROR(keys.f32("rope.scale_linear", 1.0, &scale_linear));
  if (scale_linear != 1.0f && scale_linear != 0.0f) {
    return Status(StatusCode::unsupported, keys.what() + ": linear RoPE scaling is not supported");
  }
  if (const GgufValue* s = keys.find("attention.scale")) {
    const std::optional<double> d = s->to_double();
    if (d && *d != 0.0 && std::fabs(*d - 1.0 / std::sqrt(static_cast<double>(hp->head_dim))) > 1e-6) {
      return Status(StatusCode::unsupported, keys.what() + ": a custom attention.scale is not supported");
    }
  }
  return Status();
}

Status read_ffn(const KeyReader& keys, Hparams* hp) {
  const bool moe_arch = hp->arch == Arch::qwen35moe || hp->arch == Arch::qwen3next || hp->arch == Arch::qwen3moe;
  PETREL_RETURN_IF_ERROR(keys.u32("expert_count", 0, &hp->n_expert));
  PETREL_RETURN_IF_ERROR(keys.u32("expert_used_count", 0, &hp->n_expert_used));
  if (moe_arch && hp->n_expert == 0) return keys.missing("expert_count");
  if (!moe_arch && hp->n_expert != 0) return keys.bad("expert_count", "must be 0 for a dense architecture");
  PETREL_RETURN_IF_ERROR(keys.per_layer("feed_forward_length", hp->is_moe() ? std::optional<int64_t>(0) : std::nullopt,
                                        hp->n_layer, &hp->n_ff));
  if (!hp->is_moe()) {
    for (int32_t il = 0; il < hp->n_layer; ++il) {
      if (hp->n_ff[static_cast<size_t>(il)] <= 0) return keys.bad("feed_forward_length", "must be positive");
    }
    return Status();
  }
  if (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert) {
    return keys.bad("expert_used_count", "must be between 1 and expert_count");
  }
  const int32_t n_ff0 = hp->n_ff.empty() ? 0 : hp->n_ff[0];
  PETREL_RETURN_IF_ERROR(keys.u32("expert_feed_forward_length", n_ff0 / hp->n_expert_used, &hp->n_ff_exp));
  if (hp->n_ff_exp <= 0) return keys.missing("expert_feed_forward_length");
  hp->has_shared_expert = hp->arch == Arch::qwen35moe || hp->arch == Arch::qwen3next;
  if (hp->has_shared_expert) {
    PETREL_RETURN_IF_ERROR(keys.u32("expert_shared_feed_forward_length", n_ff0, &hp->n_ff_shexp));
    if (hp->n_ff_shexp <= 0) return keys.missing("expert_shared_feed_forward_length");
  }
  return Status();
}

Status read_ssm(const KeyReader& keys, Hparams* hp) {
  if (hp->n_recurrent() == 0) return Status();
  PETREL_RETURN_IF_ERROR(keys.u32("ssm.conv_kernel", std::nullopt, &hp->ssm_d_conv));
  PETREL_RETURN_IF_ERROR(keys.u32("ssm.inner_size", std::nullopt, &hp->ssm_d_inner));
  PETREL_RETURN_IF_ERROR(keys.u32("ssm.state_size", std::nullopt, &hp->ssm_d_state));
  PETREL_RETURN_IF_ERROR(keys.u32("ssm.time_step_rank", std::nullopt, &hp->ssm_n_v_heads));
  PETREL_RETURN_IF_ERROR(keys.u32("ssm.group_count", std::nullopt, &hp->ssm_n_k_heads));
  if (hp->ssm_d_conv < 1) return keys.bad("ssm.conv_kernel", "must be at least 1");
  if (hp->ssm_d_state < 1) return keys.bad("ssm.state_size", "must be positive");
  if (hp->ssm_n_k_heads < 1) return keys.bad("ssm.group_count", "must be positive");
  if (hp->ssm_n_v_heads < 1 || hp->ssm_n_v_heads % hp->ssm_n_k_heads != 0) {
    return keys.bad("ssm.time_step_rank", "must be a positive multiple of ssm.group_count");
  }
  if (hp->ssm_d_inner < 1 || hp->ssm_d_inner % hp->ssm_n_v_heads != 0) {
    return keys.bad("ssm.inner_size", "must be a positive multiple of ssm.time_step_rank");
  }
  hp->grouped_heads = hp->arch == Arch::qwen3next;
  return Status();
}

}  // namespace

Status load_hparams(const GgufModel& gguf, const std::string& what, Hparams* out) {
  Hparams hp;
  std::string arch;
  PETREL_RETURN_IF_ERROR(parse_arch(gguf, what, &hp.arch, &arch));
  if (const GgufValue* n = gguf.find("general.name"); n && n->as_string()) hp.name = *n->as_string();
  const KeyReader keys(gguf, what, arch);

  PETREL_RETURN_IF_ERROR(keys.u32("block_count", std::nullopt, &hp.n_layer_all));
  PETREL_RETURN_IF_ERROR(keys.u32("nextn_predict_layers", 0, &hp.n_layer_nextn));
  if (hp.n_layer_nextn >= hp.n_layer_all) {
    return keys.bad("nextn_predict_layers", "leaves no trunk layers (block_count " + std::to_string(hp.n_layer_all) + ")");
  }
  hp.n_layer = hp.n_layer_all - hp.n_layer_nextn;
  PETREL_RETURN_IF_ERROR(keys.u32("embedding_length", std::nullopt, &hp.n_embd));
  if (hp.n_embd < 1) return keys.bad("embedding_length", "must be positive");
  PETREL_RETURN_IF_ERROR(keys.u64("context_length", std::nullopt, &hp.n_ctx_train));
  if (hp.n_ctx_train < 1) return keys.bad("context_length", "must be positive");
  PETREL_RETURN_IF_ERROR(keys.f32("attention.layer_norm_rms_epsilon", std::nullopt, &hp.rms_eps));
  if (!(hp.rms_eps > 0)) return keys.bad("attention.layer_norm_rms_epsilon", "must be positive");
  hp.gated_attention = hp.is_hybrid();

  PETREL_RETURN_IF_ERROR(read_layer_pattern(keys, &hp));
  PETREL_RETURN_IF_ERROR(read_attention(keys, &hp));
  PETREL_RETURN_IF_ERROR(read_ffn(keys, &hp));
  PETREL_RETURN_IF_ERROR(read_ssm(keys, &hp));
  *out = std::move(hp);
  return Status();
}

}  // namespace petrel::qwen35
