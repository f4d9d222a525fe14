// gguf_emit.h: the header of the quantizer's output (encoded by gguf/gguf_encode.h) and the
// temporary-file + rename output.
#include "quantize/gguf_emit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gguf/gguf_encode.h"
#include "gguf/gguf_format.h"
#include "gguf/reader.h"

namespace petrel {
Status encode_gguf_header(const std::vector<GgufKv>& kvs, const std::vector<EmitTensor>& tensors, uint32_t alignment,
                          std::vector<uint8_t>* o, std::vector<uint64_t>* offsets, uint64_t* data_size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return Status(StatusCode::invalid_argument, "alignment " + std::to_string(alignment) + " is not a power of two");
  }
  o->assign(kGgufMagic, kGgufMagic + 4);
  gguf_put_u32(o, kGgufWriteVersion);
  gguf_put_u64(o, tensors.size());
  gguf_put_u64(o, kvs.size());
  for (const GgufKv& kv : kvs) gguf_put_kv(o, kv.key, kv.value);
  offsets->clear();
  uint64_t off = 0;
  for (const EmitTensor& t : tensors) {
    gguf_put_tensor_info(o, t.name, t.shape, t.type_id, off);
    offsets->push_back(off);
    off += t.size + gguf_pad_to(t.size, alignment);
  }
  o->resize(o->size() + gguf_pad_to(o->size(), alignment), 0);
  *data_size = off;
  return Status::ok_status();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty() && !committed_) ::unlink(tmp_.c_str());
}

Status AtomicFile::error(int err) const {
  const std::string where = " after " + std::to_string(written_) + " of " + std::to_string(expected_) + " bytes";
  if (err == ENOSPC || err == EDQUOT) return Status(StatusCode::disk_full, shown_ + ": disk full (" + std::strerror(err) + ")" + where);
  return Status(StatusCode::io_error, shown_ + ": write failed: " + std::strerror(err) + where);
}

Status AtomicFile::open(const std::string& path, uint64_t expected_size) {
  path_ = path;
  shown_ = gguf_printable(path);
  expected_ = expected_size;
  tmp_ = path + ".tmp-" + std::to_string(::getpid());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    tmp_.clear();
    return Status(err == ENOSPC || err == EDQUOT ? StatusCode::disk_full : StatusCode::io_error,
                  shown_ + ": cannot create the temporary file: " + std::strerror(err));
  }
  return Status::ok_status();
}

Status AtomicFile::write(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return error(errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
  return Status::ok_status();
}

Status AtomicFile::write_zeros(uint64_t n) {
  static const uint8_t kZeros[4096] = {};
  while (n > 0) {
    const size_t k = n < sizeof kZeros ? static_cast<size_t>(n) : sizeof kZeros;
    PETREL_RETURN_IF_ERROR(write(kZeros, k));
    n -= k;
  }
  return Status::ok_status();
}

Status AtomicFile::commit() {
  if (::fsync(fd_) != 0 && errno != EINVAL && errno != ENOTSUP) return error(errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0 && errno != EINTR) return error(errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return Status(StatusCode::io_error, shown_ + ": cannot rename the temporary file into place: " + std::strerror(errno));
  }
  committed_ = true;
  // Make the rename durable; some filesystems refuse fsync on directories.
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok_status();
}

}  // namespace petrel
