// Split-model discovery and merging (see model_files.h).
#include "gguf/model_files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace petrel {

std::string gguf_split_path(const std::string& prefix, int no, int count) {
  char suffix[40];
  std::snprintf(suffix, sizeof(suffix), "-%05d-of-%05d.gguf", no, count);
  return prefix + suffix;
}

bool gguf_parse_split_path(const std::string& path, std::string* prefix, int* no, int* count) {
  // "-NNNNN-of-NNNNN.gguf" is 20 bytes; %05d allows more digits, but gguf-split caps parts below 100000.
  constexpr size_t kSuffix = 20;
  if (path.size() < kSuffix) return false;
  const char* s = path.c_str() + path.size() - kSuffix;
  auto digits = [](const char* p, int* v) {
    int x = 0;
    for (int i = 0; i < 5; ++i) {
      if (p[i] < '0' || p[i] > '9') return false;
      x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return true;
  };
  if (s[0] != '-' || std::memcmp(s + 6, "-of-", 4) != 0 || std::memcmp(s + 15, ".gguf", 5) != 0) return false;
  if (!digits(s + 1, no) || !digits(s + 10, count)) return false;
  *prefix = path.substr(0, path.size() - kSuffix);
  return true;
}

namespace {

// split.no / split.count as written by gguf-split (u16), accepting any integer type.
Status read_split_key(const GgufFile& f, const char* key, uint64_t max, uint64_t* out, bool* present) {
  const GgufValue* v = f.find(key);
  *present = v != nullptr;
  if (!v) return Status();
  const auto u = v->to_uint();
  if (!u || *u > max) {
    return Status(StatusCode::corrupt_file,
                  gguf_printable(f.path()) + ": " + key + " is not an integer between 0 and " + std::to_string(max));
  }
  *out = *u;
  return Status();
}

}  // namespace

Status GgufModel::open(const std::string& path, std::unique_ptr<GgufModel>* out) {
  const std::string shown = gguf_printable(path);
  std::unique_ptr<GgufFile> first;
  PETREL_RETURN_IF_ERROR(GgufFile::open(path, &first));
  std::unique_ptr<GgufModel> m(new GgufModel());

  uint64_t count = 1, no = 0;
  bool has_count = false, has_no = false;
  PETREL_RETURN_IF_ERROR(read_split_key(*first, kGgufKeySplitCount, 99999, &count, &has_count));
  PETREL_RETURN_IF_ERROR(read_split_key(*first, kGgufKeySplitNo, 99998, &no, &has_no));
  if (!has_count || count <= 1) {
    m->paths_.push_back(path);
    m->files_.push_back(std::move(first));
  } else {
    if (!has_no) return Status(StatusCode::corrupt_file, shown + ": has split.count " + std::to_string(count) + " but no split.no");
    if (no >= count) {
      return Status(StatusCode::corrupt_file,
                    shown + ": split.no " + std::to_string(no) + " is not below split.count " + std::to_string(count));
    }
    std::string prefix;
    int name_no = 0, name_count = 0;
    if (!gguf_parse_split_path(path, &prefix, &name_no, &name_count)) {
      return Status(StatusCode::io_error, shown + ": is part of a " + std::to_string(count) +
                                              "-part split model, but its name does not end in -NNNNN-of-NNNNN.gguf, "
                                              "so the other parts cannot be found");
    }
    if (static_cast<uint64_t>(name_count) != count || static_cast<uint64_t>(name_no) != no + 1) {
      return Status(StatusCode::corrupt_file, shown + ": its name says part " + std::to_string(name_no) + " of " +
                                                  std::to_string(name_count) + " but its keys say split.no " +
                                                  std::to_string(no) + ", split.count " + std::to_string(count));
    }
    for (uint64_t i = 0; i < count; ++i) {
      const std::string part = gguf_split_path(prefix, static_cast<int>(i + 1), static_cast<int>(count));
      std::unique_ptr<GgufFile> f;
      if (i == no) {
        f = std::move(first);
      } else {
        struct stat st;
        if (::stat(part.c_str(), &st) != 0 && errno == ENOENT) {
          return Status(StatusCode::io_error, gguf_printable(part) + ": split model part " + std::to_string(i + 1) + " of " +
                                                  std::to_string(count) + " is missing (" + path +
                                                  " has split.count " + std::to_string(count) + ")");
        }
        PETREL_RETURN_IF_ERROR(GgufFile::open(part, &f));
        uint64_t c = 0, n = 0;
        bool hc = false, hn = false;
        PETREL_RETURN_IF_ERROR(read_split_key(*f, kGgufKeySplitCount, 99999, &c, &hc));
        PETREL_RETURN_IF_ERROR(read_split_key(*f, kGgufKeySplitNo, 99998, &n, &hn));
        if (!hc || c != count) {
          return Status(StatusCode::corrupt_file, gguf_printable(part) + ": split.count is " + (hc ? std::to_string(c) : "missing") +
                                                      " but " + shown + " has " + std::to_string(count));
        }
        if (!hn || n != i) {
          return Status(StatusCode::corrupt_file, gguf_printable(part) + ": split.no is " + (hn ? std::to_string(n) : "missing") +
                                                      ", expected " + std::to_string(i));
        }
      }
      m->paths_.push_back(part);
      m->files_.push_back(std::move(f));
    }
  }

  // Merge the tensor lists; names must be unique across parts.
  for (size_t s = 0; s < m->files_.size(); ++s) {
    for (const GgufTensorInfo& t : m->files_[s]->tensors()) {
      if (m->tensor_index_.count(t.name)) {
        return Status(StatusCode::corrupt_file,
                      gguf_printable(m->paths_[s]) + ": tensor " + gguf_quote(t.name) + " also appears in an earlier part");
      }
      GgufTensorInfo merged = t;
      merged.split = static_cast<uint32_t>(s);
      m->tensor_index_.emplace(t.name, m->tensors_.size());
      m->tensors_.push_back(std::move(merged));
    }
  }
  if (m->files_.size() > 1) {
    const GgufValue* tc = m->files_[0]->find(kGgufKeySplitTensorsCount);
    if (tc) {
      const auto n = tc->to_uint();
      if (!n || *n != m->tensors_.size()) {
        return Status(StatusCode::corrupt_file, gguf_printable(m->paths_[0]) + ": split.tensors.count says " +
                                                    (n ? std::to_string(*n) : std::string("(not an integer)")) +
                                                    " tensors but the parts hold " +
                                                    std::to_string(m->tensors_.size()));
      }
    }
  }
  *out = std::move(m);
  return Status();
}

const GgufTensorInfo* GgufModel::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace petrel
