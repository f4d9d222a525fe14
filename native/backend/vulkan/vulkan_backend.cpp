#include "backend/vulkan/vulkan_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/expert_weights.h"
#include "backend/vulkan/ops_attention.h"
#include "backend/vulkan/ops_conv.h"
#include "backend/vulkan/ops_deltanet.h"
#include "backend/vulkan/ops_elementwise.h"
#include "backend/vulkan/ops_gates.h"
#include "backend/vulkan/ops_matmul.h"
#include "backend/vulkan/ops_moe.h"
#include "backend/vulkan/ops_rope.h"
#include "backend/vulkan/ops_routing.h"
#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_ops.h"
#include "backend/vulkan/vk_recording.h"

namespace petrel::vk {
namespace {

// Finished recordings kept for replay: a decode step, the prefill micro-batch and its tail, and
// one or two other sessions' decode steps.
constexpr size_t kReplayCache = 8;
// Host-visible rings that carry a step's uploads and downloads inside its recording, up to
// kRingMax at a time; an upload larger than that, or a download run larger than it, goes through
// vk_buffer's one-off staging copy after what is queued.
constexpr uint64_t kRingInitial = 1ull << 20;
constexpr uint64_t kRingMax = 64ull << 20;
constexpr uint64_t kAlign = 256;  // scratch and ring pieces: at least any device's offset alignment

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// A tensor's bytes as runs of contiguous memory: fn(byte offset from storage, bytes, packed
// offset) for each run, in element order. Dimensions merge into a run while they are contiguous.
template <typename Fn>
void for_each_run(const Tensor& t, Fn fn) {
  const uint64_t es = tensor_element_bytes(t.type);
  uint64_t run = static_cast<uint64_t>(t.ne[0]) * es;
  int d = 1;
  while (d < 4 && (t.ne[d] == 1 || t.nb[d] == run)) {
    run *= static_cast<uint64_t>(t.ne[d]);
    ++d;
  }
  int64_t outer[3] = {1, 1, 1};
  uint64_t stride[3] = {0, 0, 0};
  for (int i = d; i < 4; ++i) {
    outer[i - 1] = t.ne[i];
    stride[i - 1] = t.nb[i];
  }
  uint64_t packed = 0;
  for (int64_t i3 = 0; i3 < outer[2]; ++i3) {
    for (int64_t i2 = 0; i2 < outer[1]; ++i2) {
      for (int64_t i1 = 0; i1 < outer[0]; ++i1) {
        fn(t.offset + static_cast<uint64_t>(i1) * stride[0] + static_cast<uint64_t>(i2) * stride[1] +
               static_cast<uint64_t>(i3) * stride[2],
           run, packed);
        packed += run;
      }
    }
  }
}

Buffer* buffer_of(const Tensor& t) { return static_cast<Buffer*>(t.storage); }

DeviceSpan span_of(const Tensor& t) {
  if (t.empty()) return DeviceSpan{};
  return DeviceSpan{buffer_of(t), t.offset, t.span_bytes()};
}

// Float strides of a 3-D view (dimension 1 and 2) in elements.
int64_t floats(uint64_t bytes) { return static_cast<int64_t>(bytes / 4); }

class VulkanBackend final : public Backend {
 public:
  VulkanBackend(std::unique_ptr<VulkanContext> ctx, std::unique_ptr<VulkanOps> ops)
      : ctx_(std::move(ctx)), ops_(std::move(ops)) {
    const char* profile = std::getenv("PETREL_VULKAN_PROFILE");
    profile_ = profile != nullptr && std::string(profile) == "1";
  }

  ~VulkanBackend() override {
    if (profile_) print_profile();
    pending_.reset();
    replay_.clear();
    // Buffers before the context that made them (member order would do it too; said for clarity).
    weights_.clear();
    constants_.clear();
    owned_.clear();
    scratch_.reset();
    upload_ring_.reset();
    download_ring_.reset();
    ops_.reset();
  }

  const char* name() const override { return "Vulkan"; }
  const VulkanRunStats& stats() const { return stats_; }
  std::string device_name() const override { return ctx_->info().name; }

  Status sync() override {
    std::lock_guard<std::mutex> lock(mu_);
    flush();
    Status st = std::move(error_);
    error_ = Status();
    return st;
  }

  // ---- memory -----------------------------------------------------------------------------------

  Status allocate(const Tensor& desc, TensorBuffer* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tensor t = Tensor::contiguous(desc.type, desc.ne[0], desc.ne[1], desc.ne[2], desc.ne[3]);
    const uint64_t bytes = align_up(std::max<uint64_t>(t.span_bytes(), 4), 4);
    std::unique_ptr<Buffer> b;
    Status st = Buffer::create(*ctx_, bytes, MemoryKind::device, &b);
    if (!st.ok()) return Status(StatusCode::out_of_memory, "vulkan: no device memory for " + std::to_string(bytes) + " bytes (" + st.message() + ")");
    // Zeroed in order with the step's other commands (the buffer is new: nothing reads it before).
    recording().fill(*b, 0, bytes, 0);
    t.storage = b.get();
    t.offset = 0;
    owned_.emplace(b.get(), std::move(b));
    *out = TensorBuffer(this, t);
    return Status();
  }

  Status constant(const void* host, const Tensor& desc, Tensor* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    Tensor t = Tensor::contiguous(desc.type, desc.ne[0], desc.ne[1], desc.ne[2], desc.ne[3]);
    const uint64_t bytes = t.span_bytes();
    std::unique_ptr<Buffer> b;
    Status st = Buffer::create(*ctx_, align_up(std::max<uint64_t>(bytes, 4), 4), MemoryKind::device, &b);
    if (!st.ok()) return Status(StatusCode::out_of_memory, "vulkan: no device memory for a model vector (" + st.message() + ")");
    // Nothing queued reads a new buffer, so it may be written now.
    PETREL_RETURN_IF_ERROR(vk::upload(*ctx_, *b, 0, host, bytes));
    t.storage = b.get();
    constants_.push_back(std::move(b));
    *out = t;
    return Status();
  }

  // The device cannot compute on host memory: outputs come back through download.
  Tensor wrap_host(void*, const Tensor&) override { return Tensor{}; }

  void upload(const void* host, const Tensor& t) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (t.empty() || t.n_elements() == 0) return;
    const uint64_t total = static_cast<uint64_t>(t.n_elements()) * tensor_element_bytes(t.type);
    const auto* src = static_cast<const uint8_t*>(host);
    // Small uploads (a step's token ids and positions) travel inside the step's recording: the
    // bytes go to the upload ring now, a copy from there runs in order with the step, and a
    // replayed step copies from the same ring offsets.
    if (total <= kRingMax) {
      uint64_t at = 0;
      if (!ring_space(&upload_ring_, &upload_used_, total, &at)) return;
      std::memcpy(upload_ring_->mapped() + at, src, total);
      std::vector<VkBufferCopy> regions;
      for_each_run(t, [&](uint64_t off, uint64_t bytes, uint64_t packed) {
        regions.push_back(VkBufferCopy{at + packed, off, bytes});
      });
      recording().copy(*upload_ring_, *buffer_of(t), regions);
      return;
    }
    // Larger ones (a snapshot's state) after what is queued, directly.
    flush();
    for_each_run(t, [&](uint64_t off, uint64_t bytes, uint64_t packed) {
      fail(vk::upload(*ctx_, *buffer_of(t), off, src + packed, bytes));
    });
  }

  void download(const Tensor& t, void* host) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (t.empty() || t.n_elements() == 0) return;
    auto* dst = static_cast<uint8_t*>(host);
    // In pieces of whole runs that fit the download ring, each copied there at the end of the
    // queued work and read back once it ran.
    std::vector<std::pair<uint64_t, uint64_t>> runs;  // (offset, bytes)
    for_each_run(t, [&](uint64_t off, uint64_t bytes, uint64_t) { runs.emplace_back(off, bytes); });
    size_t i = 0;
    uint64_t packed = 0;
    while (i < runs.size()) {
      if (runs[i].second > kRingMax) {  // one run larger than the ring: directly
        flush();
        fail(vk::download(*ctx_, *buffer_of(t), runs[i].first, dst + packed, runs[i].second));
        packed += runs[i].second;
        ++i;
        continue;
      }
      uint64_t piece = 0;
      size_t j = i;
      while (j < runs.size() && runs[j].second <= kRingMax && piece + runs[j].second <= kRingMax) piece += runs[j++].second;
      uint64_t at = 0;
      if (!ring_space(&download_ring_, &download_used_, piece, &at)) return;
      std::vector<VkBufferCopy> regions;
      uint64_t p = 0;
      for (size_t r = i; r < j; ++r) {
        regions.push_back(VkBufferCopy{runs[r].first, at + p, runs[r].second});
        p += runs[r].second;
      }
      recording().copy(*buffer_of(t), *download_ring_, regions);
      flush();
      if (!error_.ok()) return;
      std::memcpy(dst + packed, download_ring_->mapped() + at, piece);
      packed += piece;
      i = j;
    }
  }

  void copy(const Tensor& src, const Tensor& dst) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (src.empty() || dst.empty() || src.n_elements() == 0) return;
    if (!src.same_shape(dst) || src.type != dst.type) return fail(bad_op("copy between different shapes or types"));
    // Runs of src and dst in step: both walk in element order; a region is the overlap of the
    // current runs.
    std::vector<std::pair<uint64_t, uint64_t>> a, b;  // (offset, bytes)
    for_each_run(src, [&](uint64_t off, uint64_t bytes, uint64_t) { a.emplace_back(off, bytes); });
    for_each_run(dst, [&](uint64_t off, uint64_t bytes, uint64_t) { b.emplace_back(off, bytes); });
    std::vector<VkBufferCopy> regions;
    size_t i = 0, j = 0;
    uint64_t ia = 0, jb = 0;  // bytes used of a[i], b[j]
    while (i < a.size() && j < b.size()) {
      const uint64_t n = std::min(a[i].second - ia, b[j].second - jb);
      regions.push_back(VkBufferCopy{a[i].first + ia, b[j].first + jb, n});
      ia += n;
      jb += n;
      if (ia == a[i].second) ++i, ia = 0;
      if (jb == b[j].second) ++j, jb = 0;
    }
    recording().copy(*buffer_of(src), *buffer_of(dst), regions);
  }

  void prepare_weight(WeightView* w, bool /*file_mapped*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t bytes = w->bytes();
    if (w->data == nullptr || bytes == 0 || weight_span(*w, bytes).buffer != nullptr) return;  // tied: already there
    if (!matmul_supports(w->type)) {
      const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(w->type));
      return fail(Status(StatusCode::unsupported, std::string("vulkan: no shader for ") +
                                                      (info != nullptr ? info->name : "this type of") + " weights (" +
                                                      w->name + "); run this model on the CPU (--device cpu)"));
    }
    std::unique_ptr<Buffer> b;
    Status st = Buffer::create(*ctx_, align_up(bytes, 4), MemoryKind::device, &b);
    if (!st.ok()) {
      return fail(Status(StatusCode::out_of_memory, std::string("vulkan: the model does not fit the device's memory (") +
                                                        w->name + ": " + st.message() + ")"));
    }
    // In pieces, so that the staging copy of a large stack of experts stays small.
    constexpr uint64_t kPiece = 64ull << 20;
    for (uint64_t at = 0; at < bytes && error_.ok(); at += kPiece) {
      fail(vk::upload(*ctx_, *b, at, w->data + at, std::min(kPiece, bytes - at)));
    }
    weights_.emplace(w->data, WeightBuffer{std::move(b), bytes});
  }

  // ---- operations -------------------------------------------------------------------------------

  void matmul(const WeightView& w, const Tensor& x, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    const DeviceSpan ws = weight_or_fail(w);
    if (ws.buffer == nullptr) return;
    const int64_t n = x.n_rows();
    if (!y.is_contiguous()) return fail(bad_op("matmul into a strided tensor"));
    const DeviceSpan xs = packed_rows(x);
    if (xs.buffer == nullptr) return;
    // Decode products may quantize the activations for the device's integer dot products.
    DeviceSpan scratch;
    const uint64_t bytes = matmul_scratch_bytes(*ops_, w.type, w.cols(), n);
    if (bytes > 0 && !scratch_spans({bytes}, &scratch)) return;
    fail(vk::matmul_with_scratch(*ops_, recording(), w.type, ws, w.rows(), w.cols(), xs, n, span_of(y), scratch));
  }

  void get_rows(const WeightView& table, const Tensor& ids, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    const DeviceSpan ts = weight_or_fail(table);
    if (ts.buffer == nullptr) return;
    fail(vk::get_rows(*ops_, recording(), table.type, ts, table.rows(), table.cols(), span_of(ids), ids.n_elements(),
                      span_of(out)));
  }

  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!y.is_contiguous()) return fail(bad_op("rms_norm into a strided tensor"));
    RowLayout layout;
    const DeviceSpan xs = rows_of(x, &layout);
    if (xs.buffer == nullptr) return;
    fail(vk::rms_norm(*ops_, recording(), xs, span_of(w), span_of(y), x.n_rows(), x.ne[0], eps, layout));
  }

  void add(const Tensor& a, const Tensor& b, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!a.is_contiguous() || !b.is_contiguous() || !y.is_contiguous()) return fail(bad_op("add of strided tensors"));
    fail(vk::add(*ops_, recording(), span_of(a), span_of(b), span_of(y), y.n_elements()));
  }

  void gate_mul(GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (x.empty()) return fail(bad_op("gate_mul without x"));
    if (!x.is_contiguous() || !y.is_contiguous()) return fail(bad_op("gate_mul of a strided x or y"));
    RowLayout layout;
    const DeviceSpan gs = rows_of(gate, &layout);
    if (gs.buffer == nullptr) return;
    fail(vk::gate_mul(*ops_, recording(), act, gs, span_of(x), span_of(y), y.n_elements(), layout));
  }

  void rope_neox(const Tensor& x, const Tensor& positions, int64_t n_rot, float freq_base) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!x.is_contiguous()) return fail(bad_op("rope of a strided tensor"));
    fail(vk::rope_neox(*ops_, recording(), span_of(x), span_of(positions), x.ne[2], x.ne[1], x.ne[0], n_rot, freq_base));
  }

  void kv_store(const Tensor& x, const Tensor& cache, const Tensor& positions) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!x.is_contiguous()) return fail(bad_op("kv_store of a strided tensor"));
    fail(vk::kv_store(*ops_, recording(), span_of(x), x.ne[2], x.ne[1], x.ne[0], span_of(cache), cache.ne[1],
                      span_of(positions), cache.type));
  }

  void attention(const AttentionShape& shape, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 const Tensor& positions, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!q.is_contiguous() || !out.is_contiguous()) return fail(bad_op("attention of strided q or out"));
    if (k_cache.type != v_cache.type) return fail(bad_op("attention over K and V caches of different types"));
    const int64_t n = q.ne[2], capacity = k_cache.ne[1];
    DeviceSpan scratch;
    const uint64_t bytes = attention_scratch_bytes(shape, capacity, n);
    if (bytes > 0 && !scratch_spans({bytes}, &scratch)) return;
    fail(vk::attention(*ops_, recording(), shape, span_of(q), span_of(k_cache), span_of(v_cache), capacity,
                       span_of(positions), n, span_of(out), scratch, k_cache.type));
  }

  void conv1d_silu(const Tensor& x, const Tensor& weights, const Tensor& state, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    fail(vk::conv1d_silu(*ops_, recording(), span_of(x), span_of(weights), span_of(state), x.ne[1], x.ne[0],
                         weights.ne[0], span_of(y)));
  }

  void deltanet_gates(const Tensor& b, const Tensor& alpha, const Tensor& ssm_a, const Tensor& dt_bias, const Tensor& beta,
                      const Tensor& g) override {
    std::lock_guard<std::mutex> lock(mu_);
    fail(vk::deltanet_gates(*ops_, recording(), span_of(b), Strides3{floats(b.nb[1]), floats(b.nb[2])}, span_of(alpha),
                            Strides3{floats(alpha.nb[1]), floats(alpha.nb[2])}, b.ne[0], b.ne[1], b.ne[2],
                            span_of(ssm_a), span_of(dt_bias), span_of(beta), span_of(g)));
  }

  void delta_net(const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
                 const Tensor& beta, const Tensor& state, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = q.ne[2];
    DeviceSpan scratch;
    if (n > 1 && !scratch_spans({delta_net_chunked_scratch_bytes(shape, n)}, &scratch)) return;
    fail(vk::delta_net(*ops_, recording(), shape, span_of(q), span_of(k), span_of(v), span_of(g), span_of(beta),
                       span_of(state), n, span_of(out), HeadStrides{floats(q.nb[1]), floats(q.nb[2])},
                       HeadStrides{floats(k.nb[1]), floats(k.nb[2])}, HeadStrides{floats(v.nb[1]), floats(v.nb[2])},
                       scratch));
  }

  void moe_route(const Tensor& logits, const Tensor& probs, const Tensor& selected, const Tensor& weights) override {
    std::lock_guard<std::mutex> lock(mu_);
    fail(vk::moe_route(*ops_, recording(), span_of(logits), logits.ne[1], logits.ne[0], selected.ne[0], span_of(probs),
                       span_of(selected), span_of(weights)));
  }

  void moe_experts(int32_t /*il*/, const Tensor& x, const Tensor& selected, const Tensor& weights,
                   const ExpertWeights& experts, const Tensor& shared, const Tensor& shared_gate, const Tensor& out,
                   ExpertHooks* hooks) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (hooks != nullptr) {
      return fail(Status(StatusCode::unsupported, "vulkan: expert offload runs on the CPU backend only"));
    }
    const int64_t n_embd = x.ne[0], n = x.ne[1], k = selected.ne[0], n_ff = experts.n_ff;
    const WeightView& down = experts.down;
    const int64_t n_expert = down.ne[2];
    const DeviceSpan down_w = weight_or_fail(down);
    if (down_w.buffer == nullptr) return;
    DeviceSpan gate_w, up_w, gate_up_w;
    if (experts.fused) {
      gate_up_w = weight_or_fail(experts.gate_up);
      if (gate_up_w.buffer == nullptr) return;
    } else {
      gate_w = weight_or_fail(experts.gate);
      up_w = weight_or_fail(experts.up);
      if (gate_w.buffer == nullptr || up_w.buffer == nullptr) return;
    }
    // Tokens in pieces whose (token, slot) pairs fit one dispatch's grid height.
    const int64_t max_pairs = static_cast<int64_t>(ctx_->info().max_workgroup_count[1]);
    const int64_t piece = std::max<int64_t>(1, std::min<int64_t>(n, max_pairs / k));
    const uint64_t f = 4;
    const uint64_t pairs = static_cast<uint64_t>(piece * k);
    const uint64_t ff_bytes = pairs * static_cast<uint64_t>(n_ff) * f;
    DeviceSpan s[4];  // gate (or gate_up), up, hidden, down outputs
    if (!scratch_spans({experts.fused ? 2 * ff_bytes : ff_bytes, ff_bytes, ff_bytes,
                        pairs * static_cast<uint64_t>(n_embd) * f},
                       s)) {
      return;
    }
    Recording& rec = recording();
    for (int64_t t0 = 0; t0 < n && error_.ok(); t0 += piece) {
      const int64_t nt = std::min(piece, n - t0);
      const uint64_t np = static_cast<uint64_t>(nt * k);
      const DeviceSpan xs = span_of(x.slice(1, t0, nt));
      const DeviceSpan ids = span_of(selected.slice(1, t0, nt));
      const DeviceSpan gate{s[0].buffer, s[0].offset, np * static_cast<uint64_t>(n_ff) * f};
      const DeviceSpan up{s[1].buffer, s[1].offset, gate.bytes};
      const DeviceSpan hidden{s[2].buffer, s[2].offset, gate.bytes};
      const DeviceSpan down_out{s[3].buffer, s[3].offset, np * static_cast<uint64_t>(n_embd) * f};
      if (experts.fused) {
        // [pairs][2 n_ff] (gate rows first): the gate halves read in place, the up halves gathered.
        const DeviceSpan gu{s[0].buffer, s[0].offset, 2 * gate.bytes};
        fail(vk::mat_vec_id(*ops_, rec, experts.gate_up.type, gate_up_w, 2 * n_ff, n_embd, n_expert, ids, nt, k, xs,
                            false, gu));
        std::vector<VkBufferCopy> gather_up;
        const uint64_t row = static_cast<uint64_t>(n_ff) * f;
        for (uint64_t p = 0; p < np; ++p) {
          gather_up.push_back(VkBufferCopy{gu.offset + (2 * p + 1) * row, up.offset + p * row, row});
        }
        rec.copy(*scratch_, *scratch_, gather_up);
        const RowLayout gate_rows{n_ff, 1, Strides3{2 * n_ff, 2 * n_ff}};
        fail(vk::gate_mul(*ops_, rec, GateActivation::silu, gu, up, hidden, static_cast<int64_t>(np) * n_ff, gate_rows));
      } else {
        fail(vk::mat_vec_id(*ops_, rec, experts.gate.type, gate_w, n_ff, n_embd, n_expert, ids, nt, k, xs, false, gate));
        fail(vk::mat_vec_id(*ops_, rec, experts.up.type, up_w, n_ff, n_embd, n_expert, ids, nt, k, xs, false, up));
        fail(vk::gate_mul(*ops_, rec, GateActivation::silu, gate, up, hidden, static_cast<int64_t>(np) * n_ff));
      }
      fail(vk::mat_vec_id(*ops_, rec, down.type, down_w, n_embd, n_ff, n_expert, ids, nt, k, hidden, true, down_out));
      fail(vk::moe_combine(*ops_, rec, down_out, ids, span_of(weights.slice(1, t0, nt)), nt, k, n_embd,
                           shared.empty() ? DeviceSpan{} : span_of(shared.slice(1, t0, nt)),
                           shared_gate.empty() ? DeviceSpan{} : span_of(shared_gate.slice(1, t0, nt)),
                           span_of(out.slice(1, t0, nt))));
    }
  }

 protected:
  void release(const Tensor& t) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = owned_.find(buffer_of(t));
    if (it == owned_.end()) return;
    forget(*it->second);
    owned_.erase(it);
  }

 private:
  struct ProfileEntry {
    uint64_t calls = 0;
    double ms = 0;
  };
  struct WeightBuffer {
    std::unique_ptr<Buffer> buffer;
    uint64_t bytes = 0;
  };

  Recording& recording() {
    if (!pending_) Recording::create(*ctx_, &pending_);  // makes no Vulkan object: cannot fail
    return *pending_;
  }

  void fail(const Status& st) {
    if (!st.ok() && error_.ok()) error_ = st;
  }

  // Runs what is queued: the same commands as a kept recording replay that one, else the new
  // recording is encoded, run and kept. A step any operation failed on is dropped, never run.
  void flush() {
    std::unique_ptr<Recording> rec = std::move(pending_);
    upload_used_ = 0;
    download_used_ = 0;
    if (rec) fail(rec->status());  // a command the recording refused: the step must not run
    if (!rec || rec->commands() == 0 || !error_.ok()) return;
    for (size_t i = 0; i < replay_.size(); ++i) {
      if (replay_[i]->same_commands(*rec)) {
        std::unique_ptr<Recording> hit = std::move(replay_[i]);
        replay_.erase(replay_.begin() + static_cast<std::ptrdiff_t>(i));
        fail(hit->run());
        ++stats_.runs;
        ++stats_.replays;
        if (profile_) add_to_profile(*hit);
        replay_.insert(replay_.begin(), std::move(hit));
        return;
      }
    }
    if (profile_) rec->profile();
    Status st = rec->finish();
    if (st.ok()) st = rec->run();
    if (!st.ok()) return fail(st);
    ++stats_.runs;
    if (profile_) add_to_profile(*rec);
    replay_.insert(replay_.begin(), std::move(rec));
    if (replay_.size() > kReplayCache) replay_.pop_back();
  }

  // PETREL_VULKAN_PROFILE=1: device time per shader over the backend's life, printed to stderr
  // when it goes (docs/EXECUTION.md#profiling).
  void add_to_profile(const Recording& rec) {
    const std::vector<double>& ms = rec.command_ms();
    for (size_t i = 0; i < ms.size(); ++i) {
      ProfileEntry& e = profile_by_label_[rec.command_label(i)];
      e.calls += 1;
      e.ms += ms[i];
    }
  }
  void print_profile() const {
    std::vector<std::pair<std::string, ProfileEntry>> rows(profile_by_label_.begin(), profile_by_label_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double total = 0;
    for (const auto& r : rows) total += r.second.ms;
    std::fprintf(stderr, "vulkan profile (%s): %llu submissions, %llu of them replays, %.1f ms of device time\n",
                 ctx_->info().name.c_str(), static_cast<unsigned long long>(stats_.runs),
                 static_cast<unsigned long long>(stats_.replays), total);
    for (const auto& r : rows) {
      std::fprintf(stderr, "  %-28s %9llu calls %11.3f ms %5.1f%%\n", r.first.c_str(),
                   static_cast<unsigned long long>(r.second.calls), r.second.ms,
                   total > 0 ? 100.0 * r.second.ms / total : 0.0);
    }
  }

  // A buffer is about to go: run what is queued (it may use the buffer) and drop the kept
  // recordings that name it.
  void forget(const Buffer& b) {
    flush();
    replay_.erase(std::remove_if(replay_.begin(), replay_.end(),
                                 [&](const std::unique_ptr<Recording>& r) { return r->uses(b); }),
                  replay_.end());
  }

  // `bytes` at *at of a host-visible ring used by the queued step. A full ring runs what is
  // queued and starts again from its beginning; it grows (dropping the kept recordings that name
  // it) only for a transfer larger than itself. False after recording an error.
  bool ring_space(std::unique_ptr<Buffer>* ring, uint64_t* used, uint64_t bytes, uint64_t* at) {
    if (*ring != nullptr && bytes <= (*ring)->size() && align_up(*used, 16) + bytes > (*ring)->size()) {
      flush();  // resets *used
    }
    if (*ring == nullptr || bytes > (*ring)->size()) {
      if (*ring != nullptr) forget(**ring);
      const uint64_t size = std::max(kRingInitial, align_up(bytes, kRingInitial));
      std::unique_ptr<Buffer> b;
      Status st = Buffer::create(*ctx_, size, MemoryKind::host, &b);
      if (!st.ok()) {
        fail(st);
        return false;
      }
      *ring = std::move(b);
      *used = 0;
    }
    *at = align_up(*used, 16);
    *used = *at + bytes;
    return true;
  }

  // Pieces of the scratch buffer, one per size (aligned), valid until the next operation asks.
  // Operations run in order, so one scratch serves them all; it grows (after running what is
  // queued) when an operation needs more.
  bool scratch_spans(std::initializer_list<uint64_t> sizes, DeviceSpan* out) {
    uint64_t total = 0;
    for (uint64_t s : sizes) total += align_up(std::max<uint64_t>(s, 4), kAlign);
    if (!scratch_ || scratch_->size() < total) {
      if (scratch_) forget(*scratch_);
      scratch_.reset();
      std::unique_ptr<Buffer> b;
      Status st = Buffer::create(*ctx_, total + total / 2, MemoryKind::device, &b);
      if (!st.ok()) {
        fail(Status(StatusCode::out_of_memory, "vulkan: no device memory for " + std::to_string(total) +
                                                   " bytes of scratch (" + st.message() + ")"));
        return false;
      }
      scratch_ = std::move(b);
    }
    uint64_t at = 0;
    int i = 0;
    for (uint64_t s : sizes) {
      out[i++] = DeviceSpan{scratch_.get(), at, s};
      at += align_up(std::max<uint64_t>(s, 4), kAlign);
    }
    return true;
  }

  // x's rows for a shader that reads a RowLayout: x itself (packed, or a 3-D view whose rows the
  // layout describes: attention's q heads and gates), else x gathered into packed rows first.
  DeviceSpan rows_of(const Tensor& x, RowLayout* layout) {
    *layout = RowLayout{};
    if (x.is_contiguous()) return span_of(x);
    if (x.ne[3] == 1 && x.nb[1] % 4 == 0 && x.nb[2] % 4 == 0) {
      *layout = RowLayout{x.ne[0], x.ne[1], Strides3{floats(x.nb[1]), floats(x.nb[2])}};
      return span_of(x);
    }
    return packed_rows(x);
  }

  // x as packed rows: x itself when contiguous, else its rows gathered into the gather buffer
  // (for a shader that reads no strides: the matrix products).
  DeviceSpan packed_rows(const Tensor& x) {
    if (x.is_contiguous()) return span_of(x);
    const uint64_t bytes = static_cast<uint64_t>(x.n_elements()) * tensor_element_bytes(x.type);
    if (!gather_ || gather_->size() < bytes) {
      if (gather_) forget(*gather_);
      gather_.reset();
      Status st = Buffer::create(*ctx_, bytes + bytes / 2, MemoryKind::device, &gather_);
      if (!st.ok()) {
        fail(st);
        return DeviceSpan{};
      }
    }
    std::vector<VkBufferCopy> regions;
    for_each_run(x, [&](uint64_t off, uint64_t run, uint64_t p) { regions.push_back(VkBufferCopy{off, p, run}); });
    recording().copy(*buffer_of(x), *gather_, regions);
    return DeviceSpan{gather_.get(), 0, bytes};
  }

  // The device copy of weight w (a whole prepared weight, or a slab / row range of one).
  DeviceSpan weight_span(const WeightView& w, uint64_t bytes) const {
    auto it = weights_.upper_bound(w.data);
    if (it == weights_.begin()) return DeviceSpan{};
    --it;
    const uint64_t at = static_cast<uint64_t>(w.data - it->first);
    if (at + bytes > it->second.bytes) return DeviceSpan{};
    return DeviceSpan{it->second.buffer.get(), at, bytes};
  }
  DeviceSpan weight_or_fail(const WeightView& w) {
    const uint64_t bytes = w.bytes();
    const DeviceSpan s = weight_span(w, bytes);
    if (s.buffer == nullptr) fail(bad_op(std::string("weight ") + w.name + " was not uploaded (prepare_weight)"));
    return s;
  }

  std::unique_ptr<VulkanContext> ctx_;
  std::unique_ptr<VulkanOps> ops_;
  std::map<const uint8_t*, WeightBuffer> weights_;  // by the host bytes they were uploaded from
  std::vector<std::unique_ptr<Buffer>> constants_;
  std::unordered_map<const Buffer*, std::unique_ptr<Buffer>> owned_;  // allocate()'s
  std::unique_ptr<Buffer> scratch_, gather_;
  std::unique_ptr<Buffer> upload_ring_, download_ring_;
  uint64_t upload_used_ = 0, download_used_ = 0;
  std::unique_ptr<Recording> pending_;
  std::vector<std::unique_ptr<Recording>> replay_;  // most recently run first
  Status error_;
  // Sessions of one model evaluate in turn (the engine's compute mutex), but one may take a
  // snapshot while another evaluates: every entry point holds this, so their commands interleave
  // whole (a download then runs the other step's commands queued so far, in order).
  std::mutex mu_;
  VulkanRunStats stats_;
  bool profile_ = false;
  std::map<std::string, ProfileEntry> profile_by_label_;
};

}  // namespace

VulkanRunStats vulkan_run_stats(const Backend& backend) {
  const auto* vb = dynamic_cast<const VulkanBackend*>(&backend);
  return vb != nullptr ? vb->stats() : VulkanRunStats{};
}

Status make_vulkan_backend(std::unique_ptr<Backend>* out, int* is_gpu, unsigned long long* memory_bytes) {
  std::unique_ptr<VulkanContext> ctx;
  PETREL_RETURN_IF_ERROR(VulkanContext::create(&ctx));
  const DeviceInfo& info = ctx->info();
  if (is_gpu != nullptr) {
    *is_gpu = info.type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU || info.type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
              info.type == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
  }
  if (memory_bytes != nullptr) *memory_bytes = info.device_local_bytes;
  std::unique_ptr<VulkanOps> ops;
  PETREL_RETURN_IF_ERROR(VulkanOps::create(*ctx, &ops));
  *out = std::make_unique<VulkanBackend>(std::move(ctx), std::move(ops));
  return Status();
}

}  // namespace petrel::vk
