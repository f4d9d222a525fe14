#include "synth/recipe.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>

#include "gguf/reader.h"
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

}  // namespace

Status load_recipe(const std::string& recipe_path, GgufWriter* writer) {
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

  for (const GgufKv& kv : f->kvs()) {
    if (std::string_view(kv.key).substr(0, std::strlen(kRecipePrefix)) == kRecipePrefix) continue;
    writer->add_kv(kv.key, kv.value);
  }
  uint64_t at = 0;  // next value of `shape`
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<uint64_t>(i);
    GgufWriteTensor t;
    t.name = names->string_items()[u];
    t.type_id = item_at<uint32_t>(*types, u);
    const uint32_t dims = item_at<uint32_t>(*ndims, u);
    if (dims < 1 || dims > 4 || at + dims > shape->size()) {
      return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has a bad shape in the recipe");
    }
    for (uint32_t d = 0; d < dims; ++d) t.shape.push_back(item_at<int64_t>(*shape, at + d));
    at += dims;
    RandomSpec spec;
    spec.seed = item_at<uint64_t>(*seeds, u);
    spec.mean = item_at<double>(*means, u);
    spec.std = item_at<double>(*stds, u);
    if (!std::isfinite(spec.mean) || !std::isfinite(spec.std)) {
      return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has a mean or std that is not a finite number");
    }
    const uint8_t tr = item_at<uint8_t>(*transforms, u);
    if (tr > 1) return Status(StatusCode::corrupt_file, what + ": tensor " + t.name + " has an unknown transform");
    spec.transform = tr == 1 ? RandomTransform::neg_exp : RandomTransform::none;
    t.kind = TensorSourceKind::generated;
    t.generate = random_values(spec);
    writer->add_tensor(std::move(t));
  }
  if (at != shape->size()) return Status(StatusCode::corrupt_file, what + ": the recipe's shapes do not add up");
  // The writer checks names, shapes and types (invalid_argument): for a recipe that is corruption.
  const Status st = writer->validate();
  if (!st.ok()) return Status(StatusCode::corrupt_file, what + ": " + st.message());
  return Status();
}

Status write_from_recipe(const std::string& recipe_path, const std::string& out_path, GgufWriteOptions options) {
  GgufWriter writer(std::move(options));
  PETREL_RETURN_IF_ERROR(load_recipe(recipe_path, &writer));
  return writer.write(out_path);
}

}  // namespace petrel
