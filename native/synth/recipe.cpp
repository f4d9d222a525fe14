#include "synth/recipe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "gguf/reader.h"
#include "quantize/type_policy.h"
#include "synth/random_source.h"

namespace petrel {
namespace {

// The recipe array `key` with `count` items of item type `type` (any count when count < 0).
Status recipe_array(const GgufFile& f, const std::string& what, const char* key, GgufType type, int64_t count,
                    const GgufValue** out) {
  const GgufValue* v = f.find(std::string(kRecipePrefix) + key);
  if (v == nullptr || !v->is_array() || v->item_type() != type ||
      (count >= 0 && v->size() != static_cast<uint64_t>(count))) {
    return Status(StatusCode::corrupt_file,
                  what + ": not a petrel synth recipe (" + kRecipePrefix + key + " is missing or malformed)");
  }
  *out = v;
  return Status();
}

template <class T>
T item_at(const GgufValue& v, uint64_t i) {
  T x;
  std::memcpy(&x, v.raw_items().data() + i * sizeof(T), sizeof(T));
  return x;
}

GgufValue* find_kv(SynthPlan& plan, const std::string& key) {
  for (GgufKv& kv : plan.kvs) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

}  // namespace

Status read_recipe(const std::string& recipe_path, SynthPlan* out) {
  std::unique_ptr<GgufFile> f;
  PETREL_RETURN_IF_ERROR(GgufFile::open(recipe_path, &f));
  const std::string& what = recipe_path;
  const GgufValue* version = f->find(kRecipeVersionKey);
  if (version == nullptr || version->to_uint() != 1u) {
    return Status(StatusCode::corrupt_file, what + ": not a petrel synth recipe of version 1 (" + kRecipeVersionKey + ")");
  }
  const GgufValue *names = nullptr, *types = nullptr, *ndims = nullptr, *shape = nullptr, *seeds = nullptr,
                  *means = nullptr, *stds = nullptr, *transforms = nullptr;
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "names", GgufType::STRING, -1, &names));
  const auto n = static_cast<int64_t>(names->size());
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "types", GgufType::UINT32, n, &types));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "ndims", GgufType::UINT32, n, &ndims));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "shape", GgufType::INT64, -1, &shape));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "seeds", GgufType::UINT64, n, &seeds));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "means", GgufType::FLOAT64, n, &means));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "stds", GgufType::FLOAT64, n, &stds));
  PETREL_RETURN_IF_ERROR(recipe_array(*f, what, "transforms", GgufType::UINT8, n, &transforms));

  SynthPlan plan;
  for (const GgufKv& kv : f->kvs()) {
    if (std::string_view(kv.key).substr(0, std::strlen(kRecipePrefix)) == kRecipePrefix) continue;
    plan.kvs.push_back(kv);
  }
  uint64_t at = 0;  // next value of `shape`
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<uint64_t>(i);
    SynthTensor t;
    t.name = names->string_items()[u];
    t.type_id = item_at<uint32_t>(*types, u);
    const uint32_t dims = item_at<uint32_t>(*ndims, u);
    if (dims < 1 || dims > 4 || at + dims > shape->size()) {
      return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has a bad shape in the recipe");
    }
    for (uint32_t d = 0; d < dims; ++d) t.shape.push_back(item_at<int64_t>(*shape, at + d));
    at += dims;
    t.spec.seed = item_at<uint64_t>(*seeds, u);
    t.spec.mean = item_at<double>(*means, u);
    t.spec.std = item_at<double>(*stds, u);
    if (!std::isfinite(t.spec.mean) || !std::isfinite(t.spec.std)) {
      return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has a mean or std that is not a finite number");
    }
    const uint8_t tr = item_at<uint8_t>(*transforms, u);
    if (tr > 1) return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has an unknown transform");
    t.spec.transform = tr == 1 ? RandomTransform::neg_exp : RandomTransform::none;
    plan.tensors.push_back(std::move(t));
  }
  if (at != shape->size()) return Status(StatusCode::corrupt_file, what + ": the recipe's shapes do not add up");
  *out = std::move(plan);
  return Status();
}

Status recipe_keep_layers(SynthPlan* plan, int n_layers) {
  const GgufValue* arch = find_kv(*plan, "general.architecture");
  if (arch == nullptr || !arch->is_string()) return Status(StatusCode::invalid_argument, "the recipe names no architecture");
  const std::string prefix = *arch->as_string() + ".";
  GgufValue* count = find_kv(*plan, prefix + "block_count");
  const std::optional<uint64_t> have = count ? count->to_uint() : std::nullopt;
  if (!have) return Status(StatusCode::invalid_argument, "the recipe has no " + prefix + "block_count");
  const GgufValue* interval_kv = find_kv(*plan, prefix + "full_attention_interval");
  const uint64_t interval = interval_kv ? interval_kv->to_uint().value_or(1) : 1;
  if (n_layers < 1 || static_cast<uint64_t>(n_layers) > *have ||
      (static_cast<uint64_t>(n_layers) != *have && (interval == 0 || n_layers % interval != 0))) {
    return Status(StatusCode::invalid_argument,
                  "--layers must be a multiple of " + prefix + "full_attention_interval (" + std::to_string(interval) +
                      ") up to " + std::to_string(*have) +
                      ", so that the blocks kept have their attention blocks; `petrel synth --layers N --recipe` "
                      "makes a recipe with any other count");
  }
  *count = GgufValue::u32(static_cast<uint32_t>(n_layers));
  std::vector<SynthTensor> kept;
  for (SynthTensor& t : plan->tensors) {
    int layer = -1;
    if (t.name.compare(0, 4, "blk.") == 0) layer = std::atoi(t.name.c_str() + 4);
    if (layer < n_layers) kept.push_back(std::move(t));
  }
  plan->tensors = std::move(kept);
  return Status();
}

Status recipe_quant_mix(SynthPlan* plan, const QuantType& qtype) {
  PolicyModel model;
  if (const GgufValue* a = find_kv(*plan, "general.architecture"); a && a->is_string()) model.arch = *a->as_string();
  auto uint_of = [&](const std::string& key, uint64_t fallback) {
    const GgufValue* v = find_kv(*plan, key);
    if (v == nullptr) return fallback;
    if (v->is_array()) return v->size() > 0 ? v->item(0).to_uint().value_or(fallback) : fallback;
    return v->to_uint().value_or(fallback);
  };
  model.n_layer_all = static_cast<uint32_t>(uint_of(model.arch + ".block_count", 0));
  model.n_expert = static_cast<uint32_t>(uint_of(model.arch + ".expert_count", 0));
  const uint64_t n_head = uint_of(model.arch + ".attention.head_count", 0);
  const uint64_t n_head_kv = uint_of(model.arch + ".attention.head_count_kv", n_head);
  model.n_gqa = n_head_kv ? static_cast<uint32_t>(n_head / n_head_kv) : 0;
  std::vector<PolicyTensor> tensors;
  for (const SynthTensor& t : plan->tensors) {
    PolicyTensor pt;
    pt.name = t.name;
    for (size_t d = 0; d < t.shape.size() && d < 4; ++d) pt.ne[d] = t.shape[d];
    pt.type = static_cast<GgmlType>(t.type_id);
    tensors.push_back(std::move(pt));
  }
  std::vector<TypeChoice> choices;
  PETREL_RETURN_IF_ERROR(choose_tensor_types(model, qtype, /*has_imatrix=*/false, tensors, &choices));
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].quantize) plan->tensors[i].type_id = static_cast<uint32_t>(choices[i].type);
  }
  // llama-quantize sets both keys with gguf_set_val, which removes a key and appends it.
  auto set_last = [&](const char* key, GgufValue v) {
    plan->kvs.erase(std::remove_if(plan->kvs.begin(), plan->kvs.end(), [&](const GgufKv& kv) { return kv.key == key; }),
                    plan->kvs.end());
    plan->kvs.push_back({key, std::move(v)});
  };
  set_last("general.quantization_version", GgufValue::u32(2));
  set_last("general.file_type", GgufValue::u32(static_cast<uint32_t>(qtype.ftype)));
  return Status();
}

Status add_plan(SynthPlan plan, GgufWriter* writer) {
  for (GgufKv& kv : plan.kvs) writer->add_kv(std::move(kv.key), std::move(kv.value));
  for (SynthTensor& s : plan.tensors) {
    GgufWriteTensor t;
    t.name = std::move(s.name);
    t.type_id = s.type_id;
    t.shape = std::move(s.shape);
    t.kind = TensorSourceKind::generated;
    t.generate = random_values(s.spec);
    writer->add_tensor(std::move(t));
  }
  return writer->validate();
}

Status load_recipe(const std::string& recipe_path, GgufWriter* writer) {
  SynthPlan plan;
  PETREL_RETURN_IF_ERROR(read_recipe(recipe_path, &plan));
  // The writer checks names, shapes and types (invalid_argument): for a recipe that is corruption.
  const Status st = add_plan(std::move(plan), writer);
  if (!st.ok()) return Status(StatusCode::corrupt_file, recipe_path + ": " + st.message());
  return Status();
}

Status write_from_recipe(const std::string& recipe_path, const std::string& out_path, GgufWriteOptions options) {
  GgufWriter writer(std::move(options));
  PETREL_RETURN_IF_ERROR(load_recipe(recipe_path, &writer));
  return writer.write(out_path);
}

}  // namespace petrel
