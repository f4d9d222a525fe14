// GgufModel: a model as one GGUF file or as the parts of a split model
// ("<prefix>-00001-of-00003.gguf" ..., as llama.cpp's gguf-split writes them, with keys
// u16 split.no, u16 split.count, i32 split.tensors.count). Opening any part opens all of them;
// the parts must agree with each other. Metadata comes from the first part; the tensor list is
// every part's tensors in part order, each tagged with its part index (GgufTensorInfo::split).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/reader.h"

namespace petrel {

class GgufModel {
 public:
  static Status open(const std::string& path, std::unique_ptr<GgufModel>* out);

  size_t n_files() const { return files_.size(); }
  const GgufFile& file(size_t i) const { return *files_[i]; }
  const std::vector<std::string>& paths() const { return paths_; }

  uint32_t version() const { return files_[0]->version(); }
  uint32_t alignment() const { return files_[0]->alignment(); }
  const std::vector<GgufKv>& kvs() const { return files_[0]->kvs(); }
  const GgufValue* find(std::string_view key) const { return files_[0]->find(key); }

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // The mapping that holds a tensor's bytes (keep it to keep GgufTensorInfo::data valid).
  const std::shared_ptr<GgufMapping>& mapping(uint32_t split) const { return files_[split]->mapping(); }

 private:
  GgufModel() = default;
  std::vector<std::unique_ptr<GgufFile>> files_;
  std::vector<std::string> paths_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// "<prefix>-%05d-of-%05d.gguf" with no 1-based (llama.cpp's llama_split_path).
std::string gguf_split_path(const std::string& prefix, int no, int count);
// The reverse: false when `path` does not end in -NNNNN-of-NNNNN.gguf; *no is 1-based.
bool gguf_parse_split_path(const std::string& path, std::string* prefix, int* no, int* count);

}  // namespace petrel
