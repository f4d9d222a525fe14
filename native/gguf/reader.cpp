// GGUF parsing (see reader.h). Every read goes through Cursor, which refuses to step past the end
// of the map; every count is bounded by the bytes left before anything is reserved for it.
#include "gguf/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace petrel {

// ---- messages ------------------------------------------------------------------------------------

namespace {

// Escapes bytes that could break a one-line message; cuts at `max_len` input bytes.
std::string sanitize(std::string_view s, size_t max_len) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(s.size(), max_len);
  out.reserve(n + 8);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

}  // namespace

std::string gguf_quote(std::string_view s) {
  std::string out(1, '\'');
  out += sanitize(s, 96);
  out.push_back('\'');
  return out;
}
std::string gguf_printable(std::string_view s) { return sanitize(s, 4096); }

std::string gguf_shape_string(const int64_t* ne, uint32_t n_dims) {
  std::string out = "[";
  for (uint32_t i = 0; i < n_dims; ++i) {
    if (i) out += ", ";
    out += std::to_string(ne[i]);
  }
  return out + "]";
}

// ---- mapping -------------------------------------------------------------------------------------

Status GgufMapping::map_file(const std::string& path, std::shared_ptr<GgufMapping>* out) {
  const std::string shown = sanitize(path, 4096);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(StatusCode::io_error, shown + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status(StatusCode::io_error, shown + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(StatusCode::io_error, shown + ": not a regular file");
  }
  if (st.st_size <= 0) {
    ::close(fd);
    return Status(StatusCode::corrupt_file, shown + ": file is empty (0 bytes), not a GGUF file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (p == MAP_FAILED) return Status(StatusCode::io_error, shown + ": cannot mmap: " + std::strerror(err));
  std::shared_ptr<GgufMapping> m(new GgufMapping());
  m->data_ = static_cast<const uint8_t*>(p);
  m->size_ = size;
  m->owns_map_ = true;
  *out = std::move(m);
  return Status();
}

std::shared_ptr<GgufMapping> GgufMapping::wrap_memory(const void* data, size_t size) {
  std::shared_ptr<GgufMapping> m(new GgufMapping());
  m->data_ = static_cast<const uint8_t*>(data);
  m->size_ = size;
  return m;
}

GgufMapping::~GgufMapping() {
  if (owns_map_) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

Status GgufMapping::make_private_writable(uint64_t offset, uint64_t size) {
  if (!owns_map_ || size == 0) return Status();
  if (offset > size_ || size > size_ - offset) {
    return Status(StatusCode::invalid_argument, "range past the end of the mapping");
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t begin = offset / page * page;
  const uint64_t end = offset + size;  // mprotect rounds the length up to whole pages
  if (::mprotect(const_cast<uint8_t*>(data_) + begin, static_cast<size_t>(end - begin), PROT_READ | PROT_WRITE) != 0) {
    return Status(errno == ENOMEM ? StatusCode::out_of_memory : StatusCode::io_error,
                  std::string("cannot make the tensor's pages writable: ") + std::strerror(errno));
  }
  return Status();
}

// ---- parsing -------------------------------------------------------------------------------------

namespace {

// Smallest encodings, used to bound counts by the bytes left before reserving memory.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;            // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;  // name length, 1-byte name, n_dims, type, offset

// Counts are already bounded by the bytes left, but an in-memory item is several times larger than
// its smallest encoding: reserve a little up front and let real items grow the vector.
size_t reserve_hint(uint64_t count) { return static_cast<size_t>(std::min<uint64_t>(count, 4096)); }

class Parser {
 public:
  Parser(const std::string& path, const uint8_t* data, uint64_t size) : path_(sanitize(path, 4096)), p_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status corrupt(const std::string& what) const { return Status(StatusCode::corrupt_file, path_ + ": " + what); }
  Status unsupported(const std::string& what) const { return Status(StatusCode::unsupported, path_ + ": " + what); }
  Status truncated(const std::string& what) const {
    return corrupt("file ends (size " + std::to_string(size_) + ") inside " + what);
  }

  bool read_u32(uint32_t* v) {
    if (remaining() < 4) return false;
    std::memcpy(v, p_ + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool read_u64(uint64_t* v) {
    if (remaining() < 8) return false;
    std::memcpy(v, p_ + pos_, 8);
    pos_ += 8;
    return true;
  }
  // A length-prefixed string; `what` names it for the error.
  Status read_string(const std::string& what, std::string* out) {
    uint64_t len;
    if (!read_u64(&len)) return truncated(what + " length");
    if (len > remaining()) {
      return corrupt(what + " has length " + std::to_string(len) + " but only " + std::to_string(remaining()) +
                     " bytes are left in the file");
    }
    out->assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status();
  }

  // One value of `type`; `what` names the key for errors; depth counts enclosing arrays.
  Status read_value(GgufType type, const std::string& what, int depth, GgufValue* out) {
    if (type == GgufType::STRING) {
      std::string s;
      PETREL_RETURN_IF_ERROR(read_string(what + " string value", &s));
      *out = GgufValue::str(std::move(s));
      return Status();
    }
    if (type == GgufType::ARRAY) return read_array(what, depth + 1, out);
    const size_t sz = gguf_type_size(type);
    if (remaining() < sz) return truncated(what + " value");
    if (type == GgufType::BOOL && p_[pos_] > 1) {
      return corrupt(what + " has bool value " + std::to_string(p_[pos_]) + " (must be 0 or 1)");
    }
    *out = GgufValue::scalar_from_bytes(type, p_ + pos_);
    pos_ += sz;
    return Status();
  }

  // An array body: item type, count, items. depth is this array's nesting level (1 = top).
  Status read_array(const std::string& what, int depth, GgufValue* out) {
    if (depth > kGgufMaxArrayDepth) {
      return corrupt(what + " has arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels");
    }
    uint32_t item_id;
    uint64_t count;
    if (!read_u32(&item_id)) return truncated(what + " array item type");
    if (!gguf_type_valid(item_id)) return corrupt(what + " is an array of unknown value type " + std::to_string(item_id));
    if (!read_u64(&count)) return truncated(what + " array length");
    const GgufType item = static_cast<GgufType>(item_id);
    const uint64_t min_item = item == GgufType::STRING ? 8 : item == GgufType::ARRAY ? 12 : gguf_type_size(item);
    if (count > remaining() / min_item) {
      return corrupt(what + " claims " + std::to_string(count) + " array items but only " +
                     std::to_string(remaining()) + " bytes are left in the file");
    }
    if (item == GgufType::STRING) {
      std::vector<std::string> items;
      items.reserve(reserve_hint(count));
      for (uint64_t i = 0; i < count; ++i) {
        std::string s;
        PETREL_RETURN_IF_ERROR(read_string(what + " item " + std::to_string(i), &s));
        items.push_back(std::move(s));
      }
      *out = GgufValue::string_array(std::move(items));
    } else if (item == GgufType::ARRAY) {
      std::vector<GgufValue> items;
      items.reserve(reserve_hint(count));
      for (uint64_t i = 0; i < count; ++i) {
        GgufValue v;
        PETREL_RETURN_IF_ERROR(read_array(what, depth + 1, &v));  // the key names it; depth says how deep
        items.push_back(std::move(v));
      }
      *out = GgufValue::nested_array(std::move(items));
    } else {
      const uint8_t* bytes = p_ + pos_;
      if (item == GgufType::BOOL) {
        for (uint64_t i = 0; i < count; ++i) {
          if (bytes[i] > 1) {
            return corrupt(what + " item " + std::to_string(i) + " has bool value " + std::to_string(bytes[i]) +
                           " (must be 0 or 1)");
          }
        }
      }
      *out = GgufValue::scalar_array(item, bytes, count);
      pos_ += count * min_item;
    }
    return Status();
  }

 private:
  std::string path_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace

Status GgufFile::open(const std::string& path, std::unique_ptr<GgufFile>* out) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  PETREL_RETURN_IF_ERROR(GgufMapping::map_file(path, &f->mapping_));
  PETREL_RETURN_IF_ERROR(f->parse());
  *out = std::move(f);
  return Status();
}

Status GgufFile::open_memory(const void* data, size_t size, const std::string& name, std::unique_ptr<GgufFile>* out) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->mapping_ = GgufMapping::wrap_memory(data, size);
  PETREL_RETURN_IF_ERROR(f->parse());
  *out = std::move(f);
  return Status();
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Status GgufFile::parse() {
  const uint8_t* base = mapping_->data();
  const uint64_t file_size = mapping_->size();
  Parser in(path_, base, file_size);

  // ---- header ----
  if (file_size < 4) return in.corrupt("file is " + std::to_string(file_size) + " bytes, too small to be GGUF");
  if (std::memcmp(base, kGgufMagic, 4) != 0) {
    return in.corrupt("not a GGUF file (magic is '" + sanitize(std::string_view(reinterpret_cast<const char*>(base), 4), 4) +
                      "', expected 'GGUF')");
  }
  uint32_t magic_skip;
  in.read_u32(&magic_skip);
  if (!in.read_u32(&version_)) return in.truncated("the header (version)");
  if (version_ == 1) return in.unsupported("GGUF version 1 is not supported (petrel reads versions 2 and 3)");
  if (version_ != kGgufVersion2 && version_ != kGgufVersion3) {
    if ((version_ & 0xffffu) == 0) {
      // A byte-swapped small version number: a big-endian file.
      return in.unsupported("big-endian GGUF files are not supported");
    }
    return in.unsupported("GGUF version " + std::to_string(version_) + " is not supported (petrel reads versions 2 and 3)");
  }
  uint64_t n_tensors, n_kv;
  if (!in.read_u64(&n_tensors)) return in.truncated("the header (tensor count)");
  if (!in.read_u64(&n_kv)) return in.truncated("the header (metadata count)");
  if (n_kv > in.remaining() / kMinKvBytes) {
    return in.corrupt("header claims " + std::to_string(n_kv) + " metadata entries but only " +
                      std::to_string(in.remaining()) + " bytes follow");
  }
  if (n_tensors > (in.remaining() - n_kv * kMinKvBytes) / kMinTensorInfoBytes) {
    return in.corrupt("header claims " + std::to_string(n_tensors) + " tensors but only " +
                      std::to_string(in.remaining()) + " bytes follow");
  }

  // ---- metadata ----
  kvs_.reserve(reserve_hint(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string entry = "metadata entry " + std::to_string(i);
    GgufKv kv;
    PETREL_RETURN_IF_ERROR(in.read_string(entry + " key", &kv.key));
    if (kv.key.empty()) return in.corrupt(entry + " has an empty key");
    const std::string what = "metadata key " + gguf_quote(kv.key);
    if (kv_index_.count(kv.key)) return in.corrupt("duplicate " + what);
    uint32_t type_id;
    if (!in.read_u32(&type_id)) return in.truncated(what + " value type");
    if (!gguf_type_valid(type_id)) return in.corrupt(what + " has unknown value type " + std::to_string(type_id));
    PETREL_RETURN_IF_ERROR(in.read_value(static_cast<GgufType>(type_id), what, 0, &kv.value));
    kv_index_.emplace(kv.key, kvs_.size());
    kvs_.push_back(std::move(kv));
  }

  if (const GgufValue* a = find(kGgufKeyAlignment)) {
    if (a->type() != GgufType::UINT32) {
      return in.corrupt(std::string(kGgufKeyAlignment) + " has type " + gguf_type_name(a->type()) + " (must be u32)");
    }
    const uint64_t v = a->bits();
    if (v == 0 || (v & (v - 1)) != 0) {
      return in.corrupt(std::string(kGgufKeyAlignment) + " is " + std::to_string(v) + " (must be a non-zero power of two)");
    }
    alignment_ = static_cast<uint32_t>(v);
  }

  // ---- tensor infos ----
  if (n_tensors > in.remaining() / kMinTensorInfoBytes) {
    return in.corrupt("header claims " + std::to_string(n_tensors) + " tensors but only " +
                      std::to_string(in.remaining()) + " bytes are left after the metadata");
  }
  tensors_.reserve(reserve_hint(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    PETREL_RETURN_IF_ERROR(in.read_string("tensor info " + std::to_string(i) + " name", &t.name));
    if (t.name.empty()) return in.corrupt("tensor info " + std::to_string(i) + " has an empty name");
    const std::string what = "tensor " + gguf_quote(t.name);
    if (t.name.size() > kGgufMaxTensorName) {
      return in.corrupt(what + " has a " + std::to_string(t.name.size()) + "-byte name (ggml allows at most " +
                        std::to_string(kGgufMaxTensorName) + ")");
    }
    if (tensor_index_.count(t.name)) return in.corrupt("duplicate " + what);
    if (!in.read_u32(&t.n_dims)) return in.truncated(what + " dimension count");
    if (t.n_dims > kGgufMaxDims) {
      return in.corrupt(what + " has " + std::to_string(t.n_dims) + " dimensions (ggml allows at most " +
                        std::to_string(kGgufMaxDims) + ")");
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t ne;
      if (!in.read_u64(&ne)) return in.truncated(what + " shape");
      if (ne == 0 || ne > static_cast<uint64_t>(INT64_MAX)) {
        return in.corrupt(what + " dimension " + std::to_string(d) + " is " + std::to_string(ne) +
                          " (must be between 1 and 2^63-1)");
      }
      if (ne > static_cast<uint64_t>(INT64_MAX) / n_elements) {
        return in.corrupt(what + " has more than 2^63-1 elements (shape overflows)");
      }
      n_elements *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    t.n_elements = n_elements;
    if (!in.read_u32(&t.type_id)) return in.truncated(what + " type");
    t.type = ggml_type_info(t.type_id);
    if (!t.type) return in.unsupported(what + " has unknown ggml type " + std::to_string(t.type_id));
    if (static_cast<uint64_t>(t.ne[0]) % t.type->block_size != 0) {
      return in.corrupt(what + " row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + t.type->name +
                        " block size " + std::to_string(t.type->block_size));
    }
    if (!ggml_row_bytes(*t.type, n_elements, &t.size)) {
      return in.corrupt(what + " shape " + gguf_shape_string(t.ne, t.n_dims) + " gives a data size that overflows");
    }
    if (!in.read_u64(&t.offset)) return in.truncated(what + " data offset");
    if (t.offset % alignment_ != 0) {
      return in.corrupt(what + " data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                        std::to_string(alignment_));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // ---- data section ----
  const uint64_t end_of_infos = in.pos();
  const uint64_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
  data_offset_ = end_of_infos + pad;  // cannot overflow: end_of_infos <= file size
  for (GgufTensorInfo& t : tensors_) {
    const std::string what = "tensor " + gguf_quote(t.name);
    if (t.offset > file_size || data_offset_ > file_size - t.offset || t.size > file_size - data_offset_ - t.offset) {
      // The absolute offset, unless it does not even fit in 64 bits.
      const std::string at = t.offset <= UINT64_MAX - data_offset_
                                 ? std::to_string(data_offset_ + t.offset)
                                 : std::to_string(data_offset_) + "+" + std::to_string(t.offset);
      return in.corrupt(what + " data [offset " + at + ", size " + std::to_string(t.size) +
                        "] extends past end of file (size " + std::to_string(file_size) + ")");
    }
    t.file_offset = data_offset_ + t.offset;
    t.data = base + t.file_offset;
  }

  // Overlaps: sort by offset; sizes are > 0, so neighbours must not intersect.
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& a = tensors_[order[i - 1]];
    const GgufTensorInfo& b = tensors_[order[i]];
    if (a.offset + a.size > b.offset) {
      return in.corrupt("tensors " + gguf_quote(a.name) + " [offset " + std::to_string(a.offset) + ", size " +
                        std::to_string(a.size) + "] and " + gguf_quote(b.name) + " [offset " +
                        std::to_string(b.offset) + ", size " + std::to_string(b.size) + "] overlap");
    }
  }
  return Status();
}

}  // namespace petrel
