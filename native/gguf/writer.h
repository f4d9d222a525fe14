// GgufWriter: streams a GGUF v3 file. Layout: header, metadata, tensor infos (offsets aligned to
// `alignment`), padding, then each tensor's data in order, each padded to the alignment.
// The file is written to "<path>.tmp-<pid>" in the same directory, fsynced, then renamed over
// <path>; on any failure the temporary file is removed and an existing <path> is left untouched.
// Tensor data comes from float32 values (quantized to the tensor type with quantize_row), raw
// bytes, or a TensorValueGenerator the caller supplies (synth/random_source.h makes the one for
// synthetic models: the file format knows no generator). Converted data is produced in
// bounded chunks (at most ~48 MiB of buffers in flight) on up to all hardware threads, so a
// multi-GB tensor never sits in memory whole.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"
#include "petrel/status.h"

namespace petrel {

// Values computed on demand: fill(first, out, n) writes elements [first, first + n) of the tensor
// as float32. The writer calls it for pieces of one tensor on several threads at once, in any
// order, so an element's value must depend on its index alone.
using TensorValueGenerator = std::function<void(uint64_t first, float* out, size_t n)>;

enum class TensorSourceKind { f32, raw, generated };

struct GgufWriteTensor {
  std::string name;
  uint32_t type_id = 0;        // ggml type id
  std::vector<int64_t> shape;  // ggml ne order: shape[0] is the row length
  TensorSourceKind kind = TensorSourceKind::generated;
  // kind f32: f32_count float32 values (must equal the element count); not copied, kept alive by the caller.
  const float* f32 = nullptr;
  uint64_t f32_count = 0;
  // kind raw: the tensor's bytes in its type (raw_size must equal the data size); not copied.
  const uint8_t* raw = nullptr;
  uint64_t raw_size = 0;
  // kind generated
  TensorValueGenerator generate;
};

struct GgufWriteOptions {
  // general.alignment; 0 means "not given": the general.alignment key if present, else 32.
  uint32_t alignment = 0;
  // Worker threads for generating/quantizing data; 0 means all hardware threads.
  unsigned threads = 0;
  // Called on the writing thread after each chunk: bytes written so far, total file size.
  std::function<void(uint64_t written, uint64_t total)> progress;
  // When set and it becomes true, the write stops between chunks with io_error "write cancelled"
  // (and the temporary file is removed as for any failure).
  const std::atomic<bool>* cancel = nullptr;
};

class GgufWriter {
 public:
  explicit GgufWriter(GgufWriteOptions options = {}) : options_(std::move(options)) {}

  // For setting progress/cancel after construction (the addon's worker does).
  GgufWriteOptions& options() { return options_; }

  void add_kv(std::string key, GgufValue value) { kvs_.push_back({std::move(key), std::move(value)}); }
  void add_tensor(GgufWriteTensor tensor) { tensors_.push_back(std::move(tensor)); }

  // Checks keys, values, names, shapes, types and source sizes (invalid_argument, or unsupported
  // for a type petrel cannot quantize to) and computes the layout. write() calls it too.
  Status validate();
  // The file's size in bytes (after a successful validate()).
  uint64_t total_size() const { return total_size_; }
  uint32_t alignment() const { return alignment_; }

  // Writes atomically to `path` (temporary file + fsync + rename).
  Status write(const std::string& path);
  // The same bytes into memory (tests, fuzz seeds).
  Status write_to_memory(std::vector<uint8_t>* out);

  // Where bytes go (file or memory); defined in writer.cpp.
  class Sink;

 private:
  Status write_to(Sink& sink);
  Status write_tensor_data(Sink& sink, size_t index, uint64_t* written);
  Status encode_header(std::vector<uint8_t>* out) const;

  GgufWriteOptions options_;
  std::vector<GgufKv> kvs_;
  std::vector<GgufWriteTensor> tensors_;
  // Layout, filled by validate().
  uint32_t alignment_ = 32;
  std::vector<uint64_t> offsets_;  // data offsets relative to the data section
  std::vector<uint64_t> sizes_;    // data bytes
  uint64_t header_size_ = 0;       // up to the data section (padded)
  uint64_t total_size_ = 0;
};

}  // namespace petrel
