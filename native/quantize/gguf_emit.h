// The output side of the quantizer: a GGUF v3 header for tensors whose data is produced later,
// and a file written to "<path>.tmp-<pid>", fsynced and renamed over <path> only on success (the
// same contract as gguf/writer.h, whose writer needs every tensor's bytes or floats up front,
// while the quantizer makes them a tensor at a time). ENOSPC/EDQUOT give disk_full.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"
#include "petrel/status.h"

namespace petrel {

struct EmitTensor {
  std::string name;
  std::vector<int64_t> shape;  // ggml ne order
  uint32_t type_id = 0;
  uint64_t size = 0;           // data bytes (without padding)
};

// The header padded to `alignment`; *offsets gets each tensor's offset in the data section and
// *data_size the padded data section size.
Status encode_gguf_header(const std::vector<GgufKv>& kvs, const std::vector<EmitTensor>& tensors, uint32_t alignment,
                          std::vector<uint8_t>* header, std::vector<uint64_t>* offsets, uint64_t* data_size);

class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  Status open(const std::string& path, uint64_t expected_size);
  Status write(const void* data, size_t n);
  Status write_zeros(uint64_t n);
  // fsync, close, rename into place, fsync the directory (best effort).
  Status commit();
  uint64_t written() const { return written_; }

 private:
  Status error(int err) const;
  std::string path_, tmp_, shown_;
  int fd_ = -1;
  uint64_t written_ = 0, expected_ = 0;
  bool committed_ = false;
};

}  // namespace petrel
