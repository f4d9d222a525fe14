// write_random_blocks (see block_writer.h): layout, header, and the threads that fill and pwrite
// pieces of tensors.
#include "synth/block_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gguf/gguf_encode.h"
#include "gguf/gguf_format.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"
#include "synth/random_blocks.h"
#include "synth/random_fill.h"

namespace petrel {
namespace {

// Bytes one thread fills and writes at a time: large sequential writes, little memory in flight.
constexpr uint64_t kPieceBytes = 8ull << 20;

Status invalid(const std::string& what) { return Status(StatusCode::invalid_argument, what); }

struct Piece {
  size_t tensor;
  uint64_t first;  // first block (quantized) or element (float types)
  uint64_t count;  // blocks or elements
};

struct Layout {
  uint32_t alignment = kGgufDefaultAlignment;
  std::vector<const GgmlTypeInfo*> types;
  std::vector<uint64_t> offsets;  // from the start of the file
  std::vector<uint8_t> header;    // header, metadata and tensor infos, padded to the alignment
  uint64_t total = 0;
};

Status plan_layout(const SynthPlan& plan, Layout* out) {
  Layout l;
  bool alignment_key = false;
  std::set<std::string> keys;
  for (const GgufKv& kv : plan.kvs) {
    if (!keys.insert(kv.key).second) return invalid("duplicate metadata key " + kv.key);
    if (kv.key != kGgufKeyAlignment) continue;
    const std::optional<uint64_t> a = kv.value.to_uint();
    if (kv.value.type() != GgufType::UINT32 || !a || *a == 0 || (*a & (*a - 1)) != 0) {
      return invalid(std::string(kGgufKeyAlignment) + " must be a u32 power of two");
    }
    l.alignment = static_cast<uint32_t>(*a);
    alignment_key = true;
  }
  std::set<std::string> names;
  std::vector<uint64_t> rel(plan.tensors.size());
  uint64_t data = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const SynthTensor& t = plan.tensors[i];
    const std::string what = "tensor " + t.name;
    if (t.name.empty() || t.name.size() > kGgufMaxTensorName) return invalid(what + ": bad name");
    if (!names.insert(t.name).second) return invalid("duplicate " + what);
    if (t.shape.empty() || t.shape.size() > kGgufMaxDims) return invalid(what + ": 1 to 4 dimensions");
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d <= 0 || static_cast<uint64_t>(d) > (1ull << 40) / n) return invalid(what + ": bad shape");
      n *= static_cast<uint64_t>(d);
    }
    const GgmlTypeInfo* type = ggml_type_info(t.type_id);
    if (type == nullptr) return invalid(what + ": unknown ggml type " + std::to_string(t.type_id));
    if (static_cast<uint64_t>(t.shape[0]) % type->block_size != 0) {
      return invalid(what + ": row length " + std::to_string(t.shape[0]) + " is not a multiple of the " + type->name +
                     " block size");
    }
    const bool is_float = type->type == GgmlType::F32 || type->type == GgmlType::F16 || type->type == GgmlType::BF16;
    if (!is_float && !can_random_blocks(type->type)) {
      return Status(StatusCode::unsupported, what + ": no random blocks of type " + type->name);
    }
    if (!is_float && (t.spec.mean != 0.0 || t.spec.transform != RandomTransform::none || !(t.spec.std > 0.0))) {
      return Status(StatusCode::unsupported, what + ": random " + type->name +
                                                 " blocks need values centred on 0 with a positive std in the recipe");
    }
    l.types.push_back(type);
    rel[i] = data;
    const uint64_t bytes = n / type->block_size * type->type_size;
    data += bytes + gguf_pad_to(bytes, l.alignment);
  }
  std::vector<uint8_t>& h = l.header;
  const bool add_alignment = !alignment_key && l.alignment != kGgufDefaultAlignment;
  h.insert(h.end(), kGgufMagic, kGgufMagic + 4);
  gguf_put_u32(&h, kGgufWriteVersion);
  gguf_put_u64(&h, plan.tensors.size());
  gguf_put_u64(&h, plan.kvs.size() + (add_alignment ? 1 : 0));
  for (const GgufKv& kv : plan.kvs) gguf_put_kv(&h, kv.key, kv.value);
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const SynthTensor& t = plan.tensors[i];
    gguf_put_tensor_info(&h, t.name, t.shape, t.type_id, rel[i]);
  }
  h.resize(h.size() + gguf_pad_to(h.size(), l.alignment), 0);
  for (uint64_t r : rel) l.offsets.push_back(h.size() + r);
  l.total = h.size() + data;
  *out = std::move(l);
  return Status();
}

// Pieces of every tensor, each at most about kPieceBytes.
std::vector<Piece> plan_pieces(const SynthPlan& plan, const Layout& l) {
  std::vector<Piece> pieces;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    uint64_t n = 1;
    for (int64_t d : plan.tensors[i].shape) n *= static_cast<uint64_t>(d);
    const GgmlTypeInfo& type = *l.types[i];
    const uint64_t units = n / type.block_size;  // blocks; elements for the float types
    const uint64_t per = std::max<uint64_t>(1, kPieceBytes / type.type_size);
    for (uint64_t first = 0; first < units; first += per) pieces.push_back({i, first, std::min(per, units - first)});
  }
  // Largest first, so that no thread is left with one big piece at the end.
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.count > b.count; });
  return pieces;
}

// The bytes of one piece into buf.
void fill_piece(const SynthTensor& t, const GgmlTypeInfo& type, const Piece& p, uint8_t* buf, std::vector<float>& scratch) {
  if (type.block_size > 1) {
    random_quant_blocks(type.type, t.spec.seed, t.spec.std, p.first, static_cast<size_t>(p.count), buf);
    return;
  }
  const size_t n = static_cast<size_t>(p.count);
  if (type.type == GgmlType::F32) {
    random_fill(t.spec, p.first, reinterpret_cast<float*>(buf), n);
    return;
  }
  scratch.resize(n);
  random_fill(t.spec, p.first, scratch.data(), n);
  for (size_t k = 0; k < n; ++k) {
    const uint16_t h = type.type == GgmlType::F16 ? fp32_to_fp16(scratch[k]) : fp32_to_bf16(scratch[k]);
    std::memcpy(buf + 2 * k, &h, 2);
  }
}

Status write_error(const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT) return Status(StatusCode::disk_full, path + ": disk full (" + std::strerror(err) + ")");
  return Status(StatusCode::io_error, path + ": write failed: " + std::strerror(err));
}

Status pwrite_all(int fd, const uint8_t* p, uint64_t n, uint64_t at, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30)), static_cast<off_t>(at));
    if (w < 0) {
      if (errno == EINTR) continue;
      return write_error(path, errno);
    }
    p += w;
    n -= static_cast<uint64_t>(w);
    at += static_cast<uint64_t>(w);
  }
  return Status();
}

}  // namespace

Status write_random_blocks(const SynthPlan& plan, const std::string& out_path, const BlockWriteOptions& options) {
  Layout layout;
  PETREL_RETURN_IF_ERROR(plan_layout(plan, &layout));
  const std::vector<Piece> pieces = plan_pieces(plan, layout);

  const std::string tmp = out_path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return write_error(tmp, errno);
  Status st;
  // The padding between tensors stays a hole: it reads as zeros.
  if (::ftruncate(fd, static_cast<off_t>(layout.total)) != 0) st = write_error(tmp, errno);
  if (st.ok()) st = pwrite_all(fd, layout.header.data(), layout.header.size(), 0, tmp);

  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(std::max<uint64_t>(1, std::min<uint64_t>(threads ? threads : 1, pieces.size())));
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> written{layout.header.size()};
  std::atomic<bool> failed{!st.ok()};
  std::mutex mu;
  std::condition_variable cv;
  unsigned running = threads;
  auto worker = [&] {
    std::vector<uint8_t> buf;
    std::vector<float> scratch;
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < pieces.size();) {
      const Piece& p = pieces[i];
      const SynthTensor& t = plan.tensors[p.tensor];
      const GgmlTypeInfo& type = *layout.types[p.tensor];
      const uint64_t bytes = p.count * type.type_size;
      buf.resize(static_cast<size_t>(bytes));
      fill_piece(t, type, p, buf.data(), scratch);
      const Status ws = pwrite_all(fd, buf.data(), bytes, layout.offsets[p.tensor] + p.first * type.type_size, tmp);
      if (!ws.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (st.ok()) st = ws;
        failed = true;
      }
      written += bytes;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (--running == 0) cv.notify_all();
  };
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
  {
    std::unique_lock<std::mutex> lock(mu);
    while (running > 0) {
      cv.wait_for(lock, std::chrono::milliseconds(200));
      if (options.progress && running > 0) {
        lock.unlock();
        options.progress(written.load(), layout.total);
        lock.lock();
      }
    }
  }
  for (std::thread& t : pool) t.join();
  if (::close(fd) != 0 && st.ok()) st = write_error(tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), out_path.c_str()) != 0) {
    st = Status(StatusCode::io_error, out_path + ": cannot rename the temporary file into place: " + std::strerror(errno));
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (options.progress) options.progress(layout.total, layout.total);
  return Status();
}

}  // namespace petrel
