// imatrix.h: the two importance-matrix formats.
#include "quantize/imatrix.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "gguf/reader.h"

namespace petrel {
namespace {

Status corrupt(const std::string& name, const std::string& what) {
  return Status(StatusCode::corrupt_file, gguf_printable(name) + ": " + what);
}

// Bounds-checked little-endian reads over the legacy file.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool i32(int32_t* v) {
    if (n_ - pos_ < 4) return false;
    std::memcpy(v, p_ + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool bytes(size_t k, const uint8_t** out) {
    if (n_ - pos_ < k) return false;
    *out = p_ + pos_;
    pos_ += k;
    return true;
  }
  bool at_end() const { return pos_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

Status check_finite(const std::string& name, const std::string& entry, const std::vector<float>& v) {
  for (float f : v) {
    if (!std::isfinite(f)) return corrupt(name, "entry " + gguf_quote(entry) + " holds a non-finite value");
  }
  return Status::ok_status();
}

Status parse_legacy(const uint8_t* data, size_t size, const std::string& name, Imatrix* out) {
  Cursor c(data, size);
  int32_t n_entries = 0;
  if (!c.i32(&n_entries) || n_entries < 1) return corrupt(name, "not an imatrix file (no entries)");
  for (int32_t i = 0; i < n_entries; ++i) {
    const std::string where = "entry " + std::to_string(i + 1) + " of " + std::to_string(n_entries);
    int32_t len = 0, ncall = 0, nval = 0;
    const uint8_t* bytes = nullptr;
    if (!c.i32(&len) || len < 1 || len > 4096 || !c.bytes(static_cast<size_t>(len), &bytes)) {
      return corrupt(name, where + ": bad or truncated name");
    }
    std::string entry(reinterpret_cast<const char*>(bytes), static_cast<size_t>(len));
    entry = entry.c_str();  // llama.cpp reads the name as a C string
    if (!c.i32(&ncall) || !c.i32(&nval) || nval < 1) return corrupt(name, where + ": bad value count");
    if (!c.bytes(static_cast<size_t>(nval) * sizeof(float), &bytes)) return corrupt(name, where + ": truncated values");
    std::vector<float> values(static_cast<size_t>(nval));
    std::memcpy(values.data(), bytes, values.size() * sizeof(float));
    if (ncall > 0) {
      for (float& v : values) v /= static_cast<float>(ncall);
    }
    PETREL_RETURN_IF_ERROR(check_finite(name, entry, values));
    out->entries[entry] = std::move(values);
  }
  if (!c.at_end()) {
    int32_t last_call = 0, dataset_len = 0;
    const uint8_t* bytes = nullptr;
    if (!c.i32(&last_call) || !c.i32(&dataset_len) || dataset_len < 0 ||
        !c.bytes(static_cast<size_t>(dataset_len), &bytes)) {
      return corrupt(name, "truncated dataset name at the end");
    }
    out->chunk_count = last_call;
    out->datasets.emplace_back(reinterpret_cast<const char*>(bytes), static_cast<size_t>(dataset_len));
  }
  return Status::ok_status();
}

bool strip_suffix(std::string* s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  if (s->size() < n || s->compare(s->size() - n, n, suffix) != 0) return false;
  s->resize(s->size() - n);
  return true;
}

Status parse_gguf(const GgufFile& f, const std::string& name, Imatrix* out) {
  std::map<std::string, std::pair<const GgufTensorInfo*, const GgufTensorInfo*>> pairs;
  for (const GgufTensorInfo& t : f.tensors()) {
    std::string base = t.name;
    if (strip_suffix(&base, ".in_sum2")) pairs[base].first = &t;
    else if (strip_suffix(&base, ".counts")) pairs[base].second = &t;
  }
  if (pairs.empty()) return corrupt(name, "no importance data (no <tensor>.in_sum2 tensors)");
  for (const auto& [entry, sc] : pairs) {
    const GgufTensorInfo* sums = sc.first;
    const GgufTensorInfo* counts = sc.second;
    if (!sums || !counts) return corrupt(name, "mismatched sums and counts for " + gguf_quote(entry));
    if (sums->type->type != GgmlType::F32 || counts->type->type != GgmlType::F32) {
      return corrupt(name, gguf_quote(entry) + ": importance tensors must be f32");
    }
    const int64_t ne0 = sums->ne[0], ne1 = sums->ne[1];
    if (sums->ne[2] != 1 || sums->ne[3] != 1 || static_cast<int64_t>(counts->n_elements) < ne1) {
      return corrupt(name, gguf_quote(entry) + ": counts do not match the sums");
    }
    std::vector<float> s(static_cast<size_t>(sums->n_elements)), n(static_cast<size_t>(counts->n_elements));
    std::memcpy(s.data(), sums->data, s.size() * sizeof(float));
    std::memcpy(n.data(), counts->data, n.size() * sizeof(float));
    std::vector<float> e(s.size());
    for (int64_t j = 0; j < ne1; ++j) {
      const float count = n[static_cast<size_t>(j)];
      for (int64_t i = 0; i < ne0; ++i) {
        const size_t k = static_cast<size_t>(j * ne0 + i);
        // A matrix that never got input during calibration weighs every column the same.
        e[k] = count > 0.0f ? s[k] / count : 1.0f;
      }
    }
    PETREL_RETURN_IF_ERROR(check_finite(name, entry, e));
    out->entries[entry] = std::move(e);
  }
  if (const GgufValue* v = f.find("imatrix.chunk_count")) {
    if (auto u = v->to_uint()) out->chunk_count = static_cast<int>(*u);
  }
  if (const GgufValue* v = f.find("imatrix.datasets")) {
    if (v->is_array() && v->item_type() == GgufType::STRING) out->datasets = v->string_items();
  }
  return Status::ok_status();
}

bool is_gguf(const uint8_t* data, size_t size) { return size >= 4 && std::memcmp(data, kGgufMagic, 4) == 0; }

}  // namespace

Status parse_imatrix(const uint8_t* data, size_t size, const std::string& name, Imatrix* out) {
  *out = Imatrix();
  if (is_gguf(data, size)) {
    std::unique_ptr<GgufFile> f;
    PETREL_RETURN_IF_ERROR(GgufFile::open_memory(data, size, name, &f));
    return parse_gguf(*f, name, out);
  }
  return parse_legacy(data, size, name, out);
}

Status load_imatrix(const std::string& path, Imatrix* out) {
  std::shared_ptr<GgufMapping> map;
  PETREL_RETURN_IF_ERROR(GgufMapping::map_file(path, &map));
  return parse_imatrix(map->data(), static_cast<size_t>(map->size()), path, out);
}

}  // namespace petrel
