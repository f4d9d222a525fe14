// Routing traces (see routing_trace.h). The writer encodes a step into one buffer and writes and
// flushes it at once, so a crash leaves at most one cut-off step at the end. The reader treats the
// file as hostile: every count is checked against the model's bounds before anything is sized by
// it, and the whole trace is capped (kMaxLayerRecords), so a small file cannot ask for gigabytes.
#include "offload/routing_trace.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace petrel::offload {
namespace {

constexpr char kFileMagic[4] = {'P', 'T', 'R', 'T'};
constexpr char kStepMagic[4] = {'S', 'T', 'E', 'P'};
constexpr uint32_t kVersion = 1;

// Bounds of the model block. Experts are u16 in a step, hence 65535. The key count caps what
// every consumer sizes per (layer, expert): the cache and the simulator keep a few words each.
constexpr int32_t kMaxLayers = 4096;
constexpr int32_t kMaxExperts = 65535;
constexpr int64_t kMaxExpertKeys = int64_t{1} << 22;  // n_layers · n_expert (DeepSeek-V3: 14,848)
constexpr int32_t kMaxDim = 1 << 20;                  // n_embd, n_ff_exp
constexpr uint32_t kMaxNameBytes = 4096;
constexpr uint64_t kMaxExpertBytes = uint64_t{1} << 40;
constexpr uint64_t kMaxModelBytes = uint64_t{1} << 50;  // dense_bytes, state_bytes
constexpr uint64_t kMaxKvBytesPerToken = uint64_t{1} << 32;
// Bounds of a step: tokens of one forward call and positions (a sane context).
constexpr int32_t kMaxStepTokens = 1 << 24;
constexpr int64_t kMaxPosition = int64_t{1} << 40;
// Steps × layers. A layer record takes 4 bytes in the file but ~72 in memory (three vectors):
// 2^25 records (~840k steps of a 40-layer model) keep an in-memory trace within a few GiB.
constexpr int64_t kMaxLayerRecords = int64_t{1} << 25;

// Escapes bytes that could break a one-line message (the path comes from the user).
std::string printable(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 4096; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The bounds every trace must keep, checked by the writer (invalid_argument) and by the reader
// (corrupt_file). Returns what is wrong, or an empty string.
std::string model_problem(const TraceModel& m) {
  if (m.n_layers < 1 || m.n_layers > kMaxLayers) return "n_layers " + std::to_string(m.n_layers) + " not in 1..4096";
  if (m.n_expert < 1 || m.n_expert > kMaxExperts) return "n_expert " + std::to_string(m.n_expert) + " not in 1..65535";
  if (m.n_expert_used < 1 || m.n_expert_used > m.n_expert) {
    return "n_expert_used " + std::to_string(m.n_expert_used) + " not in 1..n_expert (" + std::to_string(m.n_expert) + ")";
  }
  if (static_cast<int64_t>(m.n_layers) * m.n_expert > kMaxExpertKeys) {
    return "n_layers × n_expert = " + std::to_string(static_cast<int64_t>(m.n_layers) * m.n_expert) + " experts, more than " +
           std::to_string(kMaxExpertKeys);
  }
  if (m.n_embd < 1 || m.n_embd > kMaxDim) return "n_embd " + std::to_string(m.n_embd) + " not in 1..2^20";
  if (m.n_ff_exp < 1 || m.n_ff_exp > kMaxDim) return "n_ff_exp " + std::to_string(m.n_ff_exp) + " not in 1..2^20";
  if (m.expert_bytes < 1 || m.expert_bytes > kMaxExpertBytes) {
    return "expert_bytes " + std::to_string(m.expert_bytes) + " not in 1..2^40";
  }
  if (m.dense_bytes > kMaxModelBytes) return "dense_bytes " + std::to_string(m.dense_bytes) + " above 2^50";
  if (m.state_bytes > kMaxModelBytes) return "state_bytes " + std::to_string(m.state_bytes) + " above 2^50";
  if (m.kv_bytes_per_token > kMaxKvBytesPerToken) {
    return "kv_bytes_per_token " + std::to_string(m.kv_bytes_per_token) + " above 2^32";
  }
  if (m.name.size() > kMaxNameBytes) return "model name of " + std::to_string(m.name.size()) + " bytes, more than 4096";
  return std::string();
}

void put_u16(std::vector<uint8_t>* b, uint32_t v) {
  b->push_back(static_cast<uint8_t>(v));
  b->push_back(static_cast<uint8_t>(v >> 8));
}
void put_u32(std::vector<uint8_t>* b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>* b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t get_u16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
uint32_t get_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint64_t get_u64(const uint8_t* p) { return static_cast<uint64_t>(get_u32(p)) | static_cast<uint64_t>(get_u32(p + 4)) << 32; }

// Buffered reads from a FILE: many small fields, and stdio's per-call locking is slow for them.
class Input {
 public:
  explicit Input(std::FILE* f) : f_(f) {}
  // Copies up to n bytes to dst and returns how many: fewer only at the end of the file.
  size_t read(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (at_ == end_) {
        end_ = std::fread(buf_, 1, sizeof(buf_), f_);
        at_ = 0;
        if (end_ == 0) break;
      }
      const size_t k = std::min(n - done, end_ - at_);
      std::memcpy(dst + done, buf_ + at_, k);
      at_ += k;
      done += k;
    }
    offset_ += done;
    return done;
  }
  bool failed() const { return std::ferror(f_) != 0; }
  uint64_t offset() const { return offset_; }

 private:
  std::FILE* f_;
  uint8_t buf_[1 << 16];
  size_t at_ = 0, end_ = 0;
  uint64_t offset_ = 0;
};

class Reader {
 public:
  Reader(const std::string& path, std::FILE* f) : path_(printable(path)), in_(f) {}

  Status read(RoutingTrace* out);

 private:
  enum class Got { all, short_read, io_error };
  enum class StepEnd { complete, cut, end_of_file };
  // Reads exactly n bytes into scratch_ (grown to n, which callers bound first); *got: how many came.
  Got fill(size_t n, size_t* got = nullptr) {
    if (scratch_.size() < n) scratch_.resize(n);
    const size_t k = in_.read(scratch_.data(), n);
    if (got != nullptr) *got = k;
    if (k == n) return Got::all;
    return in_.failed() ? Got::io_error : Got::short_read;
  }
  Status corrupt(const std::string& what) const { return Status(StatusCode::corrupt_file, path_ + ": " + what); }
  Status io_error() const { return Status(StatusCode::io_error, path_ + ": read error: " + std::strerror(errno)); }
  Status read_header(TraceModel* m);
  // Reads one step: *end says whether it was complete, cut off by the end of the file, or whether
  // the file ended cleanly before it.
  Status read_step(const TraceModel& m, int64_t index, TraceStep* st, StepEnd* end);

  std::string path_;
  Input in_;
  std::vector<uint8_t> scratch_;
};

Status Reader::read_header(TraceModel* m) {
  // magic, version, 5 × i32, 4 × u64, name length
  constexpr size_t kFixed = 4 + 4 + 5 * 4 + 4 * 8 + 4;
  switch (fill(kFixed)) {
    case Got::all: break;
    case Got::io_error: return io_error();
    case Got::short_read:
      if (in_.offset() == 0) return corrupt("file is empty, not a routing trace");
      return corrupt("file ends (" + std::to_string(in_.offset()) + " bytes) inside the header");
  }
  const uint8_t* p = scratch_.data();
  if (std::memcmp(p, kFileMagic, 4) != 0) return corrupt("not a routing trace (no PTRT magic)");
  const uint32_t version = get_u32(p + 4);
  if (version != kVersion) {
    return Status(StatusCode::unsupported, path_ + ": routing trace version " + std::to_string(version) +
                                               " (this build reads version " + std::to_string(kVersion) + ")");
  }
  p += 8;
  m->n_layers = static_cast<int32_t>(get_u32(p));
  m->n_expert = static_cast<int32_t>(get_u32(p + 4));
  m->n_expert_used = static_cast<int32_t>(get_u32(p + 8));
  m->n_embd = static_cast<int32_t>(get_u32(p + 12));
  m->n_ff_exp = static_cast<int32_t>(get_u32(p + 16));
  p += 20;
  m->expert_bytes = get_u64(p);
  m->dense_bytes = get_u64(p + 8);
  m->kv_bytes_per_token = get_u64(p + 16);
  m->state_bytes = get_u64(p + 24);
  const uint32_t name_len = get_u32(p + 32);
  if (name_len > kMaxNameBytes) return corrupt("model name length " + std::to_string(name_len) + " above 4096");
  switch (fill(name_len)) {
    case Got::all: break;
    case Got::io_error: return io_error();
    case Got::short_read: return corrupt("file ends inside the header (model name)");
  }
  m->name.assign(reinterpret_cast<const char*>(scratch_.data()), name_len);
  const std::string problem = model_problem(*m);
  if (!problem.empty()) return corrupt("header: " + problem);
  return Status();
}

Status Reader::read_step(const TraceModel& m, int64_t index, TraceStep* st, StepEnd* end) {
  *end = StepEnd::cut;
  const uint64_t start = in_.offset();
  const std::string where = "step " + std::to_string(index) + " (byte " + std::to_string(start) + ")";
  size_t got = 0;
  switch (fill(4 + 4 + 8, &got)) {
    case Got::all: break;
    case Got::io_error: return io_error();
    case Got::short_read:
      // A few trailing bytes are a cut-off step only if they begin like one.
      if (std::memcmp(scratch_.data(), kStepMagic, std::min<size_t>(got, 4)) != 0) return corrupt(where + ": no STEP magic");
      if (got == 0) *end = StepEnd::end_of_file;
      return Status();
  }
  // Only now is there a step to hold: a file that goes on past the limit is refused.
  if (index >= kMaxLayerRecords / m.n_layers) {
    return corrupt("more than " + std::to_string(kMaxLayerRecords / m.n_layers) + " steps of " + std::to_string(m.n_layers) +
                   " layers (the reader's limit is " + std::to_string(kMaxLayerRecords) + " layer records)");
  }
#define PETREL_TRACE_FILL(n)                  \
  switch (fill(n)) {                          \
    case Got::all: break;                     \
    case Got::io_error: return io_error();    \
    case Got::short_read: return Status();    \
  }
  const uint8_t* p = scratch_.data();
  if (std::memcmp(p, kStepMagic, 4) != 0) return corrupt(where + ": no STEP magic");
  st->n_tokens = static_cast<int32_t>(get_u32(p + 4));
  st->pos0 = static_cast<int64_t>(get_u64(p + 8));
  if (st->n_tokens < 1 || st->n_tokens > kMaxStepTokens) {
    return corrupt(where + ": n_tokens " + std::to_string(st->n_tokens) + " not in 1..2^24");
  }
  if (st->pos0 < 0 || st->pos0 > kMaxPosition) return corrupt(where + ": pos0 " + std::to_string(st->pos0) + " not in 0..2^40");
  st->layers.resize(static_cast<size_t>(m.n_layers));
  for (int32_t l = 0; l < m.n_layers; ++l) {
    TraceLayer& tl = st->layers[static_cast<size_t>(l)];
    PETREL_TRACE_FILL(2);
    const uint32_t n_used = get_u16(scratch_.data());
    if (n_used > static_cast<uint32_t>(m.n_expert)) {
      return corrupt(where + ", layer " + std::to_string(l) + ": " + std::to_string(n_used) + " experts used, n_expert is " +
                     std::to_string(m.n_expert));
    }
    PETREL_TRACE_FILL(static_cast<size_t>(n_used) * 6);
    tl.experts.resize(n_used);
    tl.rows.resize(n_used);
    for (uint32_t i = 0; i < n_used; ++i) {
      const uint8_t* q = scratch_.data() + 6 * i;
      const uint32_t e = get_u16(q), rows = get_u32(q + 2);
      if (e >= static_cast<uint32_t>(m.n_expert)) {
        return corrupt(where + ", layer " + std::to_string(l) + ": expert " + std::to_string(e) + " >= n_expert " +
                       std::to_string(m.n_expert));
      }
      if (i > 0 && static_cast<int32_t>(e) <= tl.experts[i - 1]) {
        return corrupt(where + ", layer " + std::to_string(l) + ": experts not ascending (" +
                       std::to_string(tl.experts[i - 1]) + ", then " + std::to_string(e) + ")");
      }
      if (rows < 1 || rows > static_cast<uint32_t>(st->n_tokens)) {
        return corrupt(where + ", layer " + std::to_string(l) + ": expert " + std::to_string(e) + " has " +
                       std::to_string(rows) + " rows, the step " + std::to_string(st->n_tokens) + " tokens");
      }
      tl.experts[i] = static_cast<int32_t>(e);
      tl.rows[i] = static_cast<int32_t>(rows);
    }
    PETREL_TRACE_FILL(2);
    const uint32_t n_predicted = get_u16(scratch_.data());
    if (n_predicted > static_cast<uint32_t>(m.n_expert)) {
      return corrupt(where + ", layer " + std::to_string(l) + ": " + std::to_string(n_predicted) +
                     " experts predicted, n_expert is " + std::to_string(m.n_expert));
    }
    PETREL_TRACE_FILL(static_cast<size_t>(n_predicted) * 2);
    tl.predicted.resize(n_predicted);
    for (uint32_t i = 0; i < n_predicted; ++i) {
      const uint32_t e = get_u16(scratch_.data() + 2 * i);
      if (e >= static_cast<uint32_t>(m.n_expert)) {
        return corrupt(where + ", layer " + std::to_string(l) + ": predicted expert " + std::to_string(e) +
                       " >= n_expert " + std::to_string(m.n_expert));
      }
      tl.predicted[i] = static_cast<int32_t>(e);
    }
  }
#undef PETREL_TRACE_FILL
  *end = StepEnd::complete;
  return Status();
}

Status Reader::read(RoutingTrace* out) {
  PETREL_RETURN_IF_ERROR(read_header(&out->model));
  for (int64_t index = 0;; ++index) {
    TraceStep st;
    StepEnd end = StepEnd::cut;
    PETREL_RETURN_IF_ERROR(read_step(out->model, index, &st, &end));
    if (end == StepEnd::end_of_file) return Status();
    if (end == StepEnd::cut) {
      out->truncated = true;  // a crash cut the last step: it is dropped
      return Status();
    }
    out->steps.push_back(std::move(st));
  }
}

}  // namespace

Status read_routing_trace(const std::string& path, RoutingTrace* out) {
  *out = RoutingTrace();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status(StatusCode::io_error, printable(path) + ": cannot open: " + std::strerror(errno));
  Status st;
  try {
    st = Reader(path, f).read(out);
  } catch (const std::bad_alloc&) {
    st = Status(StatusCode::out_of_memory, printable(path) + ": out of memory reading the routing trace");
  }
  std::fclose(f);
  if (!st.ok()) *out = RoutingTrace();
  return st;
}

// ---- writing ------------------------------------------------------------------------------------

namespace {

Status write_error(const std::string& path, int err) {
  return Status(err == ENOSPC ? StatusCode::disk_full : StatusCode::io_error,
                printable(path) + ": cannot write the routing trace: " + std::strerror(err));
}

// Writes and flushes one encoded block. On failure the file is closed: what follows a half-written
// step could not be read back, so the steps already written are all the trace keeps.
Status write_block(std::FILE** file, const std::string& path, const std::vector<uint8_t>& buf) {
  errno = 0;
  const bool ok = std::fwrite(buf.data(), 1, buf.size(), *file) == buf.size() && std::fflush(*file) == 0;
  if (ok) return Status();
  const int err = errno != 0 ? errno : EIO;
  std::fclose(*file);
  *file = nullptr;
  return write_error(path, err);
}

}  // namespace

RoutingTraceWriter::~RoutingTraceWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status RoutingTraceWriter::open(const std::string& path, const TraceModel& model) {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  const std::string problem = model_problem(model);
  if (!problem.empty()) return Status(StatusCode::invalid_argument, "routing trace: " + problem);
  path_ = path;
  n_layers_ = model.n_layers;
  n_expert_ = model.n_expert;
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) {
    return Status(errno == ENOSPC ? StatusCode::disk_full : StatusCode::io_error,
                  printable(path) + ": cannot create the routing trace: " + std::strerror(errno));
  }
  try {
    buf_.clear();
    for (char c : kFileMagic) buf_.push_back(static_cast<uint8_t>(c));
    put_u32(&buf_, kVersion);
    for (int32_t v : {model.n_layers, model.n_expert, model.n_expert_used, model.n_embd, model.n_ff_exp}) {
      put_u32(&buf_, static_cast<uint32_t>(v));
    }
    for (uint64_t v : {model.expert_bytes, model.dense_bytes, model.kv_bytes_per_token, model.state_bytes}) put_u64(&buf_, v);
    put_u32(&buf_, static_cast<uint32_t>(model.name.size()));
    buf_.insert(buf_.end(), model.name.begin(), model.name.end());
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "routing trace: out of memory");
  }
  return write_block(&file_, path_, buf_);
}

Status RoutingTraceWriter::append(const TraceStep& step) {
  if (file_ == nullptr) return Status(StatusCode::io_error, printable(path_) + ": the routing trace is not open");
  const auto bad = [&](const std::string& what) { return Status(StatusCode::invalid_argument, "routing trace step: " + what); };
  if (step.layers.size() != static_cast<size_t>(n_layers_)) {
    return bad(std::to_string(step.layers.size()) + " layers, the model has " + std::to_string(n_layers_));
  }
  if (step.n_tokens < 1 || step.n_tokens > kMaxStepTokens) return bad("n_tokens " + std::to_string(step.n_tokens));
  if (step.pos0 < 0 || step.pos0 > kMaxPosition) return bad("pos0 " + std::to_string(step.pos0));
  try {
    buf_.clear();
    for (char c : kStepMagic) buf_.push_back(static_cast<uint8_t>(c));
    put_u32(&buf_, static_cast<uint32_t>(step.n_tokens));
    put_u64(&buf_, static_cast<uint64_t>(step.pos0));
    for (size_t l = 0; l < step.layers.size(); ++l) {
      const TraceLayer& tl = step.layers[l];
      const std::string at = "layer " + std::to_string(l) + ": ";
      if (tl.rows.size() != tl.experts.size()) return bad(at + "rows and experts differ in length");
      if (tl.experts.size() > static_cast<size_t>(n_expert_)) return bad(at + "more experts than n_expert");
      if (tl.predicted.size() > static_cast<size_t>(n_expert_)) return bad(at + "more predicted experts than n_expert");
      put_u16(&buf_, static_cast<uint32_t>(tl.experts.size()));
      for (size_t i = 0; i < tl.experts.size(); ++i) {
        const int32_t e = tl.experts[i];
        if (e < 0 || e >= n_expert_) return bad(at + "expert " + std::to_string(e) + " out of range");
        if (i > 0 && e <= tl.experts[i - 1]) return bad(at + "experts not ascending");
        if (tl.rows[i] < 1 || tl.rows[i] > step.n_tokens) return bad(at + "rows " + std::to_string(tl.rows[i]) + " of expert " + std::to_string(e));
        put_u16(&buf_, static_cast<uint32_t>(e));
        put_u32(&buf_, static_cast<uint32_t>(tl.rows[i]));
      }
      put_u16(&buf_, static_cast<uint32_t>(tl.predicted.size()));
      for (int32_t e : tl.predicted) {
        if (e < 0 || e >= n_expert_) return bad(at + "predicted expert " + std::to_string(e) + " out of range");
        put_u16(&buf_, static_cast<uint32_t>(e));
      }
    }
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "routing trace: out of memory");
  }
  return write_block(&file_, path_, buf_);
}

}  // namespace petrel::offload
