// Session snapshots: the whole session as one little-endian byte blob, and files holding one.
//
//   header   "PTRLSNAP", u32 version (3), u32 header bytes (64), u64 model shape fingerprint,
//            i64 position, i64 context length (informational), u64 history length,
//            u32 n_layer, u32 n_vocab when the last logits row is included (else 0),
//            u64 model weights digest (version 2; Model::weights_digest)
//   body     u64 rng[4]; i32 history[history length]; f32 logits[n_vocab] (if included);
//            per layer: u8 kind (1 = DeltaNet: f32 conv, f32 ssm; 0 = attention: u8 KV type (ggml
//            type id: 1 = F16, 0 = F32), then K and V of positions [0, position) only, so a
//            snapshot grows with the sequence, not the limit; position-major, [position][head]
//            [head_dim], whatever layout the cache has in memory)
//   trailer  u64 FNV-1a of everything before it
//
// restore() validates the header, the model (shapes, then weights: a model of the same shapes
// with other weights, such as another quantization or fine-tune, is refused too), every size,
// the position against the session's context limit and the checksum before it changes anything.
// Version 1 snapshots carried no weights digest and are refused rather than trusted; version 2 had
// only F32 KV caches. A snapshot restores into a session with the same KV cache type. Truncating a session back
// to an earlier point is restoring the snapshot taken there. Files are written to a temporary name
// in the same directory and renamed over the target, so readers never see half a snapshot.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include <unistd.h>

#include "engine/engine_impl.h"
#include "engine/fnv1a.h"

namespace petrel {
namespace {

constexpr char kMagic[8] = {'P', 'T', 'R', 'L', 'S', 'N', 'A', 'P'};
constexpr uint32_t kVersion = 3;
constexpr uint32_t kHeaderBytes = 64;

uint64_t checksum(const uint8_t* p, size_t n) {
  Fnv1a f;
  f.bytes(p, n);
  return f.value();
}

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  template <class T>
  void pod(T v) { bytes(&v, sizeof v); }
  void floats(const float* p, size_t n) { bytes(p, n * sizeof(float)); }
  // A backend tensor's elements in order (Backend::download).
  void tensor(Backend& backend, const Tensor& t) {
    const size_t n = static_cast<size_t>(t.n_elements()) * tensor_element_bytes(t.type);
    if (n == 0) return;
    out_->resize(out_->size() + n);
    backend.download(t, out_->data() + out_->size() - n);
  }

 private:
  std::vector<uint8_t>* out_;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool bytes(void* dst, size_t n) {
    if (n > n_ - pos_) return false;
    std::memcpy(dst, p_ + pos_, n);
    pos_ += n;
    return true;
  }
  template <class T>
  bool pod(T* v) { return bytes(v, sizeof *v); }
  bool floats(std::vector<float>* v, size_t n) {
    if (n > (n_ - pos_) / sizeof(float)) return false;
    v->resize(n);
    return bytes(v->data(), n * sizeof(float));
  }
  // The next bytes into a backend tensor's elements in order (Backend::upload).
  bool tensor(Backend& backend, const Tensor& t) {
    const size_t n = static_cast<size_t>(t.n_elements()) * tensor_element_bytes(t.type);
    if (n > n_ - pos_) return false;
    if (n > 0) backend.upload(p_ + pos_, t);
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

Status corrupt(const std::string& why) { return Status(StatusCode::corrupt_file, "snapshot: " + why); }

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Status Session::snapshot(std::vector<uint8_t>* out) const {
  const Impl& s = *impl_;
  const Model::Impl& m = s.model->impl();
  const qwen35::Hparams& hp = m.hp;
  if (s.broken) return Status(StatusCode::invalid_argument, "snapshot: the session's state was lost in a failed evaluation");
  std::lock_guard<std::mutex> lock(m.compute_mutex);
  try {
    std::vector<uint8_t> blob;
    Writer w(&blob);
    const bool with_logits = s.logits_rows > 0 && s.logits.size() >= static_cast<size_t>(hp.n_vocab);
    w.bytes(kMagic, sizeof kMagic);
    w.pod(kVersion);
    w.pod(kHeaderBytes);
    w.pod(m.info.fingerprint);
    w.pod(static_cast<int64_t>(s.state.n_pos));
    w.pod(static_cast<int64_t>(s.context_length));
    w.pod(static_cast<uint64_t>(s.tokens.size()));
    w.pod(static_cast<uint32_t>(hp.n_layer));
    w.pod(static_cast<uint32_t>(with_logits ? hp.n_vocab : 0));
    w.pod(s.model->weights_digest());
    blob.resize(kHeaderBytes, 0);  // reserved space up to the fixed header size
    for (uint64_t x : s.rng.state) w.pod(x);
    w.bytes(s.tokens.data(), s.tokens.size() * sizeof(int32_t));
    if (with_logits) w.floats(s.logits.data() + (s.logits_rows - 1) * static_cast<int64_t>(hp.n_vocab), static_cast<size_t>(hp.n_vocab));
    Backend& backend = *m.backend;
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      const qwen35::LayerState& ls = s.state.layers[static_cast<size_t>(il)];
      if (hp.recurrent[static_cast<size_t>(il)]) {
        w.pod(static_cast<uint8_t>(1));
        w.tensor(backend, ls.conv.tensor());
        w.tensor(backend, ls.ssm.tensor());
      } else {
        w.pod(static_cast<uint8_t>(0));
        w.pod(static_cast<uint8_t>(s.state.kv_type));
        // Positions [0, n_pos) position-major, gathered from the head-major cache.
        if (s.state.n_pos > 0) {
          for (const TensorBuffer* cache : {&ls.k, &ls.v}) w.tensor(backend, qwen35::kv_positions(*cache, s.state.n_pos));
        }
      }
    }
    if (Status st = backend.sync(); !st.ok()) return Status(st.code(), "snapshot: " + st.message());
    w.pod(checksum(blob.data(), blob.size()));
    out->swap(blob);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "snapshot: not enough memory");
  }
  return Status();
}

Status Session::restore(const uint8_t* data, size_t size, bool* other_model) {
  Impl& s = *impl_;
  if (other_model) *other_model = false;
  const Model::Impl& m = s.model->impl();
  const qwen35::Hparams& hp = m.hp;
  if (size < kHeaderBytes + sizeof(uint64_t)) return corrupt("too short to be a petrel session snapshot");
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0) return corrupt("not a petrel session snapshot (bad magic)");
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, data + size - sizeof stored_sum, sizeof stored_sum);
  Reader r(data, size - sizeof stored_sum);
  char magic[8];
  uint32_t version = 0, header_bytes = 0, n_layer = 0, n_logits = 0;
  uint64_t fingerprint = 0, n_history = 0, digest = 0;
  int64_t n_pos = 0, saved_ctx = 0;
  r.bytes(magic, sizeof magic);
  if (!r.pod(&version) || version != kVersion) {
    return Status(StatusCode::unsupported, "snapshot: version " + std::to_string(version) + " is not supported (petrel reads version " +
                                               std::to_string(kVersion) + "; take the snapshot again)");
  }
  if (checksum(data, size - sizeof stored_sum) != stored_sum) return corrupt("checksum mismatch (the data is damaged)");
  if (!r.pod(&header_bytes) || header_bytes != kHeaderBytes || !r.pod(&fingerprint) || !r.pod(&n_pos) ||
      !r.pod(&saved_ctx) || !r.pod(&n_history) || !r.pod(&n_layer) || !r.pod(&n_logits) || !r.pod(&digest)) {
    return corrupt("bad header");
  }
  (void)saved_ctx;
  if (fingerprint != m.info.fingerprint || n_layer != static_cast<uint32_t>(hp.n_layer)) {
    if (other_model) *other_model = true;
    return Status(StatusCode::invalid_argument, "snapshot: it was taken with a different model (other shapes: fingerprint " +
                                                    hex(fingerprint) + ", this model " + hex(m.info.fingerprint) + ")");
  }
  if (digest != s.model->weights_digest()) {
    if (other_model) *other_model = true;
    return Status(StatusCode::invalid_argument,
                  "snapshot: it was taken with a different model of the same shapes (other weights: digest " + hex(digest) +
                      ", this model " + hex(s.model->weights_digest()) + "; another quantization or fine-tune?)");
  }
  if (n_pos < 0 || static_cast<uint64_t>(n_pos) != n_history) return corrupt("position and history disagree");
  if (n_logits != 0 && n_logits != static_cast<uint32_t>(hp.n_vocab)) return corrupt("bad logits size");
  if (n_pos > s.context_length) {
    return Status(StatusCode::invalid_argument, "snapshot: its position " + std::to_string(n_pos) +
                                                    " is past this session's context length of " +
                                                    std::to_string(s.context_length));
  }
  if (n_history > r.remaining() / sizeof(int32_t)) return corrupt("truncated history");
  Reader body(data + kHeaderBytes, size - sizeof stored_sum - kHeaderBytes);

  try {
    Impl next;
    next.model = s.model;
    next.context_length = s.context_length;
    for (uint64_t& x : next.rng.state) {
      if (!body.pod(&x)) return corrupt("truncated");
    }
    next.tokens.resize(static_cast<size_t>(n_history));
    if (!body.bytes(next.tokens.data(), next.tokens.size() * sizeof(int32_t))) return corrupt("truncated history");
    for (int32_t t : next.tokens) {
      if (t < 0 || t >= hp.n_vocab) return corrupt("history holds a token outside the vocabulary");
    }
    if (n_logits != 0) {
      if (!body.floats(&next.logits, n_logits)) return corrupt("truncated logits");
      next.logits_rows = 1;
    }
    Backend& backend = *m.backend;
    std::lock_guard<std::mutex> lock(m.compute_mutex);
    PETREL_RETURN_IF_ERROR(qwen35::make_state(hp, backend, s.state.kv_type, &next.state));
    next.state.n_pos = 0;
    PETREL_RETURN_IF_ERROR(qwen35::reserve_kv(hp, backend, &next.state, n_pos, s.context_length));
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      qwen35::LayerState& ls = next.state.layers[static_cast<size_t>(il)];
      uint8_t kind = 0;
      if (!body.pod(&kind)) return corrupt("truncated layer " + std::to_string(il));
      const bool recurrent = hp.recurrent[static_cast<size_t>(il)];
      if (kind != (recurrent ? 1 : 0)) return corrupt("layer " + std::to_string(il) + " has the wrong kind");
      if (recurrent) {
        if (!body.tensor(backend, ls.conv.tensor()) || !body.tensor(backend, ls.ssm.tensor())) {
          return corrupt("truncated layer " + std::to_string(il));
        }
      } else {
        uint8_t kv_type = 0;
        if (!body.pod(&kv_type)) return corrupt("truncated layer " + std::to_string(il));
        if (kv_type != static_cast<uint8_t>(GgmlType::F16) && kv_type != static_cast<uint8_t>(GgmlType::F32)) {
          return corrupt("layer " + std::to_string(il) + " has an unknown KV cache type");
        }
        if (kv_type != static_cast<uint8_t>(next.state.kv_type)) {
          return Status(StatusCode::invalid_argument,
                        std::string("snapshot: its KV cache is ") + (kv_type == static_cast<uint8_t>(GgmlType::F16) ? "f16" : "f32") +
                            ", this session's is " + (next.state.kv_type == GgmlType::F16 ? "f16" : "f32") +
                            " (create the session with the same kvCacheType)");
        }
        if (n_pos > 0 && (!body.tensor(backend, qwen35::kv_positions(ls.k, n_pos)) ||
                          !body.tensor(backend, qwen35::kv_positions(ls.v, n_pos)))) {
          return corrupt("truncated layer " + std::to_string(il));
        }
      }
    }
    if (body.remaining() != 0) return corrupt("trailing bytes after the last layer");
    // Before the session takes the new state: a device that failed leaves it as it was.
    if (Status st = backend.sync(); !st.ok()) return Status(st.code(), "restore: " + st.message());
    next.state.n_pos = n_pos;
    // Keep the scratch buffers; take everything else.
    s.state = std::move(next.state);
    s.tokens = std::move(next.tokens);
    s.logits = std::move(next.logits);
    s.logits_rows = next.logits_rows;
    s.rng = next.rng;
    s.broken = false;
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "restore: not enough memory");
  }
  return Status();
}

Status Session::save_file(const std::string& path) const {
  std::vector<uint8_t> blob;
  PETREL_RETURN_IF_ERROR(snapshot(&blob));
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    return Status(StatusCode::io_error, gguf_printable(path) + ": cannot create the snapshot file: " + std::strerror(errno));
  }
  const size_t written = std::fwrite(blob.data(), 1, blob.size(), f);
  int err = written == blob.size() ? 0 : errno;
  if (std::fflush(f) != 0 && err == 0) err = errno;
  if (err == 0 && fsync(fileno(f)) != 0) err = errno;
  if (std::fclose(f) != 0 && err == 0) err = errno;
  if (err != 0) {
    std::remove(tmp.c_str());
    return Status(err == ENOSPC ? StatusCode::disk_full : StatusCode::io_error,
                  gguf_printable(path) + ": writing the snapshot failed: " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    std::remove(tmp.c_str());
    return Status(StatusCode::io_error, gguf_printable(path) + ": cannot rename the snapshot into place: " + std::strerror(err));
  }
  return Status();
}

Status Session::load_file(const std::string& path, bool* other_model) {
  if (other_model) *other_model = false;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status(StatusCode::io_error, gguf_printable(path) + ": cannot open the snapshot: " + std::strerror(errno));
  std::vector<uint8_t> blob;
  Status st;
  try {
    uint8_t buf[1 << 16];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) blob.insert(blob.end(), buf, buf + n);
    if (std::ferror(f)) st = Status(StatusCode::io_error, gguf_printable(path) + ": reading the snapshot failed");
  } catch (const std::bad_alloc&) {
    st = Status(StatusCode::out_of_memory, gguf_printable(path) + ": not enough memory to read the snapshot");
  }
  std::fclose(f);
  PETREL_RETURN_IF_ERROR(st);
  const Status r = restore(blob.data(), blob.size(), other_model);
  if (!r.ok()) return Status(r.code(), gguf_printable(path) + ": " + r.message());
  return Status();
}

}  // namespace petrel
