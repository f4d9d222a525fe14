// GGUF v3 writing (see writer.h): validation and layout, header encoding, chunked multi-threaded
// data conversion, and the temp-file + fsync + rename dance.
#include "gguf/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "gguf/gguf_encode.h"
#include "gguf/gguf_format.h"
#include "gguf/reader.h"
#include "quant/convert.h"
#include "quant/ggml_type.h"

namespace petrel {

namespace {

// Buffers in flight while converting one batch of a tensor (floats + converted bytes, all threads).
constexpr uint64_t kBatchBudget = 48ull << 20;
// Elements per thread per batch, at most: small enough that progress moves and threads share work.
constexpr uint64_t kMaxPieceElements = 1ull << 20;
// Raw and float32 data are written straight from the caller's memory in chunks of this size.
constexpr uint64_t kDirectChunk = 16ull << 20;

Status invalid(const std::string& what) { return Status(StatusCode::invalid_argument, what); }

// Structural checks a GgufValue built in memory may fail (bool bits, nesting, item types).
Status check_value(const GgufValue& v, const std::string& what, int depth) {
  if (v.type() == GgufType::BOOL && v.bits() > 1) return invalid(what + ": bool value is not 0 or 1");
  if (!v.is_array()) return Status();
  if (depth > kGgufMaxArrayDepth) {
    return invalid(what + ": arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels");
  }
  if (v.item_type() == GgufType::BOOL) {
    for (uint8_t b : v.raw_items()) {
      if (b > 1) return invalid(what + ": bool array item is not 0 or 1");
    }
  }
  if (v.item_type() == GgufType::ARRAY) {
    for (const GgufValue& item : v.array_items()) {
      if (!item.is_array()) return invalid(what + ": an item of an array of arrays is not an array");
      PETREL_RETURN_IF_ERROR(check_value(item, what, depth + 1));
    }
  }
  return Status();
}

// ---- temporary-file bookkeeping ----
// Two writes to the same path from this process would share "<path>.tmp-<pid>"; the second is refused.
std::mutex g_tmp_mutex;
std::set<std::string> g_tmp_in_flight;

}  // namespace

// ---- sinks ---------------------------------------------------------------------------------------

class GgufWriter::Sink {
 public:
  virtual ~Sink() = default;
  virtual Status write(const void* data, size_t n) = 0;
};

namespace {

class MemorySink : public GgufWriter::Sink {
 public:
  explicit MemorySink(std::vector<uint8_t>* out) : out_(out) {}
  Status write(const void* data, size_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + n);
    return Status();
  }

 private:
  std::vector<uint8_t>* out_;
};

class FileSink : public GgufWriter::Sink {
 public:
  FileSink(int fd, std::string shown, uint64_t total) : fd_(fd), shown_(std::move(shown)), total_(total) {}
  Status write(const void* data, size_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return write_error(errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
      written_ += static_cast<uint64_t>(w);
    }
    return Status();
  }
  Status write_error(int err) const {
    const std::string where = " after " + std::to_string(written_) + " of " + std::to_string(total_) + " bytes";
    if (err == ENOSPC || err == EDQUOT) {
      return Status(StatusCode::disk_full, shown_ + ": disk full (" + std::strerror(err) + ")" + where);
    }
    return Status(StatusCode::io_error, shown_ + ": write failed: " + std::strerror(err) + where);
  }

 private:
  int fd_;
  std::string shown_;
  uint64_t total_;
  uint64_t written_ = 0;
};

}  // namespace

// ---- validation and layout -----------------------------------------------------------------------

Status GgufWriter::validate() {
  // Alignment: the option, the general.alignment key, or both when they agree.
  const GgufKv* align_kv = nullptr;
  std::set<std::string> keys;
  for (const GgufKv& kv : kvs_) {
    if (kv.key.empty()) return invalid("metadata key is empty");
    if (!keys.insert(kv.key).second) return invalid("duplicate metadata key " + gguf_quote(kv.key));
    // Depth 1 is a top-level array, as in the reader.
    PETREL_RETURN_IF_ERROR(check_value(kv.value, "metadata key " + gguf_quote(kv.key), 1));
    if (kv.key == kGgufKeyAlignment) align_kv = &kv;
  }
  uint32_t alignment = options_.alignment;
  if (align_kv) {
    if (align_kv->value.type() != GgufType::UINT32) {
      return invalid(std::string(kGgufKeyAlignment) + " must be a u32 value");
    }
    const uint32_t a = static_cast<uint32_t>(align_kv->value.bits());
    if (alignment != 0 && alignment != a) {
      return invalid("alignment " + std::to_string(alignment) + " disagrees with the general.alignment key (" +
                     std::to_string(a) + ")");
    }
    alignment = a;
  }
  if (alignment == 0) alignment = kGgufDefaultAlignment;
  if ((alignment & (alignment - 1)) != 0) {
    return invalid("alignment " + std::to_string(alignment) + " is not a power of two");
  }
  alignment_ = alignment;

  std::set<std::string> names;
  offsets_.assign(tensors_.size(), 0);
  sizes_.assign(tensors_.size(), 0);
  uint64_t data_size = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const GgufWriteTensor& t = tensors_[i];
    const std::string what = "tensor " + gguf_quote(t.name);
    if (t.name.empty()) return invalid("tensor " + std::to_string(i) + " has an empty name");
    if (t.name.size() > kGgufMaxTensorName) {
      return invalid(what + " name is longer than " + std::to_string(kGgufMaxTensorName) + " bytes");
    }
    if (!names.insert(t.name).second) return invalid("duplicate " + what);
    if (t.shape.empty() || t.shape.size() > kGgufMaxDims) {
      return invalid(what + " has " + std::to_string(t.shape.size()) + " dimensions (must be 1 to 4)");
    }
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d <= 0) return invalid(what + " has a dimension " + std::to_string(d) + " (must be >= 1)");
      if (static_cast<uint64_t>(d) > static_cast<uint64_t>(INT64_MAX) / n) return invalid(what + " has too many elements");
      n *= static_cast<uint64_t>(d);
    }
    const GgmlTypeInfo* type = ggml_type_info(t.type_id);
    if (!type) return invalid(what + " has unknown ggml type " + std::to_string(t.type_id));
    if (static_cast<uint64_t>(t.shape[0]) % type->block_size != 0) {
      return invalid(what + " row length " + std::to_string(t.shape[0]) + " is not a multiple of the " + type->name +
                     " block size " + std::to_string(type->block_size));
    }
    uint64_t bytes;
    if (!ggml_row_bytes(*type, n, &bytes)) return invalid(what + " is too large");
    const bool is_f32 = type->type == GgmlType::F32;
    if (t.kind != TensorSourceKind::raw && !is_f32 && !can_quantize(type->type)) {
      return Status(StatusCode::unsupported, what + ": petrel cannot quantize to " + type->name);
    }
    switch (t.kind) {
      case TensorSourceKind::f32:
        if (t.f32_count != n) {
          return invalid(what + " has shape " + gguf_shape_string(t.shape.data(), static_cast<uint32_t>(t.shape.size())) +
                         " (" + std::to_string(n) + " elements) but " + std::to_string(t.f32_count) + " float32 values");
        }
        if (!t.f32) return invalid(what + " has no float32 data");
        break;
      case TensorSourceKind::raw:
        if (t.raw_size != bytes) {
          return invalid(what + " needs " + std::to_string(bytes) + " bytes of " + type->name + " data but got " +
                         std::to_string(t.raw_size));
        }
        if (!t.raw) return invalid(what + " has no raw data");
        break;
      case TensorSourceKind::generated:
        if (!t.generate) return invalid(what + " has no value generator");
        break;
    }
    const uint64_t padded = bytes + gguf_pad_to(bytes, alignment_);
    if (padded < bytes || data_size > UINT64_MAX - padded) return invalid(what + " makes the file too large");
    offsets_[i] = data_size;
    sizes_[i] = bytes;
    data_size += padded;
  }

  std::vector<uint8_t> header;
  PETREL_RETURN_IF_ERROR(encode_header(&header));
  header_size_ = header.size() + gguf_pad_to(header.size(), alignment_);
  total_size_ = header_size_ + data_size;
  return Status();
}

Status GgufWriter::encode_header(std::vector<uint8_t>* o) const {
  const bool add_alignment_key = alignment_ != kGgufDefaultAlignment &&
                                 std::none_of(kvs_.begin(), kvs_.end(), [](const GgufKv& kv) { return kv.key == kGgufKeyAlignment; });
  o->insert(o->end(), kGgufMagic, kGgufMagic + 4);
  gguf_put_u32(o, kGgufWriteVersion);
  gguf_put_u64(o, tensors_.size());
  gguf_put_u64(o, kvs_.size() + (add_alignment_key ? 1 : 0));
  if (add_alignment_key) {
    gguf_put_string(o, kGgufKeyAlignment);
    gguf_put_u32(o, static_cast<uint32_t>(GgufType::UINT32));
    gguf_put_u32(o, alignment_);
  }
  for (const GgufKv& kv : kvs_) gguf_put_kv(o, kv.key, kv.value);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const GgufWriteTensor& t = tensors_[i];
    gguf_put_tensor_info(o, t.name, t.shape, t.type_id, offsets_[i]);
  }
  return Status();
}

// ---- data ----------------------------------------------------------------------------------------

namespace {

Status write_zeros(GgufWriter::Sink& sink, uint64_t n) {
  static const uint8_t kZeros[4096] = {};
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof(kZeros)));
    PETREL_RETURN_IF_ERROR(sink.write(kZeros, k));
    n -= k;
  }
  return Status();
}

}  // namespace

Status GgufWriter::write_tensor_data(Sink& sink, size_t index, uint64_t* written) {
  const GgufWriteTensor& t = tensors_[index];
  const GgmlTypeInfo& type = *ggml_type_info(t.type_id);
  const uint64_t bytes = sizes_[index];
  auto report = [&](uint64_t n) {
    *written += n;
    if (options_.progress) options_.progress(*written, total_size_);
  };
  auto cancelled = [&] { return options_.cancel && options_.cancel->load(std::memory_order_relaxed); };

  // Bytes that already exist: write them in chunks straight from the caller's memory.
  const uint8_t* direct = nullptr;
  if (t.kind == TensorSourceKind::raw) direct = t.raw;
  if (t.kind == TensorSourceKind::f32 && type.type == GgmlType::F32) direct = reinterpret_cast<const uint8_t*>(t.f32);
  if (direct) {
    for (uint64_t done = 0; done < bytes;) {
      const uint64_t k = std::min(kDirectChunk, bytes - done);
      if (cancelled()) return Status(StatusCode::io_error, "write cancelled");
      PETREL_RETURN_IF_ERROR(sink.write(direct + done, static_cast<size_t>(k)));
      done += k;
      report(k);
    }
    return Status();
  }

  // Generated or converted data: batches of `threads` pieces, each piece a whole number of blocks.
  const uint64_t n_elements = bytes / type.type_size * type.block_size;
  const bool fill_scratch = t.kind == TensorSourceKind::generated && type.type != GgmlType::F32;
  unsigned threads = options_.threads ? options_.threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  // bytes per element, scaled by block_size to stay integral
  const uint64_t scaled_bpe = (fill_scratch ? 4ull * type.block_size : 0) + type.type_size;
  uint64_t piece = kBatchBudget * type.block_size / (static_cast<uint64_t>(threads) * scaled_bpe);
  piece = std::min(piece, kMaxPieceElements);
  piece -= piece % type.block_size;
  if (piece == 0) piece = type.block_size;
  const uint64_t n_pieces = (n_elements + piece - 1) / piece;
  threads = static_cast<unsigned>(std::min<uint64_t>(threads, n_pieces));
  const uint64_t piece_bytes = piece / type.block_size * type.type_size;

  std::vector<uint8_t> out(static_cast<size_t>(piece_bytes * threads));
  std::vector<float> scratch(fill_scratch ? static_cast<size_t>(piece * threads) : 0);
  std::vector<Status> results(threads);

  // Converts piece p (global index) into slot s of the batch buffers.
  auto run_piece = [&](uint64_t p, unsigned s) {
    const uint64_t first = p * piece;
    const uint64_t n = std::min(piece, n_elements - first);
    uint8_t* dst = out.data() + s * piece_bytes;
    if (t.kind == TensorSourceKind::generated && type.type == GgmlType::F32) {
      t.generate(first, reinterpret_cast<float*>(dst), static_cast<size_t>(n));
      results[s] = Status();
    } else if (t.kind == TensorSourceKind::generated) {
      float* src = scratch.data() + s * piece;
      t.generate(first, src, static_cast<size_t>(n));
      results[s] = quantize_row(type.type, src, dst, static_cast<int64_t>(n));
    } else {
      results[s] = quantize_row(type.type, t.f32 + first, dst, static_cast<int64_t>(n));
    }
  };

  for (uint64_t p0 = 0; p0 < n_pieces; p0 += threads) {
    if (cancelled()) return Status(StatusCode::io_error, "write cancelled");
    const unsigned in_batch = static_cast<unsigned>(std::min<uint64_t>(threads, n_pieces - p0));
    std::vector<std::thread> pool;
    pool.reserve(in_batch - 1);
    for (unsigned s = 1; s < in_batch; ++s) pool.emplace_back(run_piece, p0 + s, s);
    run_piece(p0, 0);
    for (std::thread& th : pool) th.join();
    uint64_t batch_bytes = 0;
    for (unsigned s = 0; s < in_batch; ++s) {
      if (!results[s].ok()) {
        return Status(results[s].code(), "tensor " + gguf_quote(t.name) + ": " + results[s].message());
      }
      const uint64_t first = (p0 + s) * piece;
      batch_bytes += std::min(piece, n_elements - first) / type.block_size * type.type_size;
    }
    PETREL_RETURN_IF_ERROR(sink.write(out.data(), static_cast<size_t>(batch_bytes)));
    report(batch_bytes);
  }
  return Status();
}

Status GgufWriter::write_to(Sink& sink) {
  std::vector<uint8_t> header;
  PETREL_RETURN_IF_ERROR(encode_header(&header));
  const uint64_t header_pad = header_size_ - header.size();
  PETREL_RETURN_IF_ERROR(sink.write(header.data(), header.size()));
  PETREL_RETURN_IF_ERROR(write_zeros(sink, header_pad));
  uint64_t written = header_size_;
  if (options_.progress) options_.progress(written, total_size_);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    PETREL_RETURN_IF_ERROR(write_tensor_data(sink, i, &written));
    const uint64_t pad = gguf_pad_to(sizes_[i], alignment_);
    PETREL_RETURN_IF_ERROR(write_zeros(sink, pad));
    written += pad;
  }
  if (options_.progress) options_.progress(written, total_size_);
  return Status();
}

Status GgufWriter::write_to_memory(std::vector<uint8_t>* out) {
  PETREL_RETURN_IF_ERROR(validate());
  out->clear();
  out->reserve(static_cast<size_t>(total_size_));
  MemorySink sink(out);
  return write_to(sink);
}

Status GgufWriter::write(const std::string& path) {
  PETREL_RETURN_IF_ERROR(validate());
  const std::string shown = gguf_printable(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::lock_guard<std::mutex> lock(g_tmp_mutex);
    if (!g_tmp_in_flight.insert(tmp).second) {
      return invalid(shown + ": another write to this path is already in progress");
    }
  }
  struct InFlight {
    const std::string& tmp;
    ~InFlight() {
      std::lock_guard<std::mutex> lock(g_tmp_mutex);
      g_tmp_in_flight.erase(tmp);
    }
  } in_flight{tmp};

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {
    // Same pid but not in flight here: left over by an earlier process that had our pid.
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    const int err = errno;
    return Status(err == ENOSPC || err == EDQUOT ? StatusCode::disk_full : StatusCode::io_error,
                  shown + ": cannot create temporary file " + gguf_printable(tmp) + ": " + std::strerror(err));
  }
  FileSink sink(fd, shown, total_size_);
  Status st = write_to(sink);
  if (st.ok() && ::fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) st = sink.write_error(errno);
  if (::close(fd) != 0 && st.ok() && errno != EINTR) st = sink.write_error(errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status(StatusCode::io_error, shown + ": cannot rename the temporary file into place: " + std::strerror(errno));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    // Conversion errors name the tensor; add the file.
    if (st.message().rfind(shown + ":", 0) != 0) st = Status(st.code(), shown + ": " + st.message());
    return st;
  }
  // Make the rename itself durable; best effort (some filesystems refuse fsync on directories).
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status();
}

}  // namespace petrel
