// GgufFile: one GGUF file, memory-mapped read-only and parsed without copying tensor data.
// The file is treated as hostile: every count, length, offset and size is checked against the
// bytes that are really there before it is used or allocated for, so a bad file gives one
// Status with a one-line message ("<path>: tensor 'x' ...") and never an out-of-bounds read.
//   corrupt_file  the bytes break the format (bounds, counts, overlaps, duplicates, alignment)
//   unsupported   well-formed but not something petrel reads (GGUF v1, big-endian, unknown ggml type)
//   io_error      open/stat/mmap failed
// The same parser runs on a caller's memory buffer (open_memory) for tests and the fuzzer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_format.h"
#include "gguf/gguf_value.h"
#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel {

// The bytes of an opened GGUF: a private read-only mmap of a file, or a caller's buffer.
// Held by shared_ptr so that views into it (the addon's zero-copy ArrayBuffers) can outlive the
// GgufFile that parsed it.
class GgufMapping {
 public:
  static Status map_file(const std::string& path, std::shared_ptr<GgufMapping>* out);
  // Does not copy or own `data`; the caller keeps it alive as long as the mapping is used.
  static std::shared_ptr<GgufMapping> wrap_memory(const void* data, size_t size);
  ~GgufMapping();
  GgufMapping(const GgufMapping&) = delete;
  GgufMapping& operator=(const GgufMapping&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

  // Lets the process write into [offset, offset + size) of a file mapping: the pages become private
  // copy-on-write pages, so the file itself never changes. JavaScript gets writable ArrayBuffers
  // over the map, and a write into a read-only page would kill the process. No-op for memory.
  Status make_private_writable(uint64_t offset, uint64_t size);

 private:
  GgufMapping() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool owns_map_ = false;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t type_id = 0;
  const GgmlTypeInfo* type = nullptr;  // never null in a parsed file
  uint32_t n_dims = 0;
  int64_t ne[kGgufMaxDims] = {1, 1, 1, 1};  // ggml order: ne[0] is the row length; unused dims are 1
  uint64_t n_elements = 0;
  uint64_t size = 0;         // bytes of data
  uint64_t offset = 0;       // relative to the file's data section, as stored
  uint64_t file_offset = 0;  // absolute position in its file
  uint32_t split = 0;        // which file of a split model holds it (GgufModel sets it)
  const uint8_t* data = nullptr;  // into the mapping; valid while the mapping lives
};

class GgufFile {
 public:
  static Status open(const std::string& path, std::unique_ptr<GgufFile>* out);
  // Parses `size` bytes at `data` (not copied; must outlive the GgufFile). `name` prefixes errors.
  static Status open_memory(const void* data, size_t size, const std::string& name, std::unique_ptr<GgufFile>* out);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Start of the data section (after the tensor infos, padded to the alignment).
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return mapping_->size(); }
  const std::shared_ptr<GgufMapping>& mapping() const { return mapping_; }

  const std::vector<GgufKv>& kvs() const { return kvs_; }
  const GgufValue* find(std::string_view key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  Status parse();

  std::string path_;
  std::shared_ptr<GgufMapping> mapping_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// For error messages: `s` quoted, with control and non-ASCII bytes escaped (\xNN) and long
// strings cut, so a hostile name can never break the one-line message.
std::string gguf_quote(std::string_view s);
// The same escaping without quotes or cutting (for paths at the start of messages).
std::string gguf_printable(std::string_view s);

// "[4096, 32]": a tensor shape for messages.
std::string gguf_shape_string(const int64_t* ne, uint32_t n_dims);

}  // namespace petrel
