// CpuBackend: binds the thread pool, the kernel table and the scratch buffers to the op
// implementations in this folder (matmul.cpp, get_rows.cpp, norm_rope.cpp, elementwise.cpp,
// attention.cpp, conv.cpp, delta_net.cpp, moe.cpp), checks each tensor against the operation's
// contract (a violation writes NaN into the output: loud, never a wild read), and serialises calls
// so the per-thread scratch is never shared. Tensors are host memory: allocations are calloc'd,
// and constants and host outputs are used in place.
#include "backend/cpu/ops/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "backend/cpu/ops/ops.h"

namespace petrel {
namespace cpu {

void fill_nan(float* y, int64_t n) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t i = 0; i < n; ++i) y[i] = nan;
}

void fill_nan(const Tensor& t) {
  if (t.empty() || t.type != GgmlType::F32) return;
  for (int64_t r = 0; r < t.n_rows(); ++r) fill_nan(reinterpret_cast<float*>(host_row(t, r)), t.ne[0]);
}

namespace {

// A tensor of `type` whose rows hold ne[0] contiguous elements (nb[0] is the element size).
bool is(const Tensor& t, GgmlType type) {
  return !t.empty() && t.type == type && t.nb[0] == tensor_element_bytes(type) && t.n_elements() >= 0;
}
bool is_f32(const Tensor& t) { return is(t, GgmlType::F32); }
bool contiguous(const Tensor& t, GgmlType type) { return is(t, type) && t.is_contiguous(); }

// Calls fn(host row, bytes) for each row of t, in order: what upload and download walk.
template <class Fn>
void for_each_row(const Tensor& t, Fn&& fn) {
  const uint64_t row_bytes = static_cast<uint64_t>(t.ne[0]) * t.nb[0];
  if (t.is_contiguous()) {
    fn(host_bytes(t), row_bytes * static_cast<uint64_t>(t.n_rows()));
    return;
  }
  for (int64_t r = 0; r < t.n_rows(); ++r) fn(host_row(t, r), row_bytes);
}

class CpuBackendImpl final : public CpuBackend {
 public:
  explicit CpuBackendImpl(int n_threads)
      : pool_(n_threads), scratch_(pool_.n_threads()), ctx_{pool_, cpu_kernels(), scratch_}, moe_(make_moe_scratch()) {}

  const char* name() const override { return "CPU"; }

  // ---- memory -----------------------------------------------------------------------------------

  Status allocate(const Tensor& desc, TensorBuffer* out) override {
    const uint64_t elem = tensor_element_bytes(desc.type);
    const int64_t n = desc.n_elements();
    if (elem == 0 || n < 0) return Status(StatusCode::invalid_argument, "allocate: a tensor holds f32, f16 or i32");
    // calloc: zeros, and large blocks come straight from the kernel as untouched zero pages.
    void* p = std::calloc(n > 0 ? static_cast<size_t>(n) : 1, static_cast<size_t>(elem));
    if (p == nullptr) return Status(StatusCode::out_of_memory, "not enough memory for a tensor");
    Tensor t = Tensor::contiguous(desc.type, desc.ne[0], desc.ne[1], desc.ne[2], desc.ne[3]);
    t.storage = p;
    *out = TensorBuffer(this, t);
    return Status();
  }
  Status constant(const void* host, const Tensor& desc, Tensor* out) override {
    *out = wrap_host(const_cast<void*>(host), desc);
    return Status();
  }
  Tensor wrap_host(void* host, const Tensor& desc) override {
    Tensor t = desc;
    t.storage = host;
    t.offset = 0;
    return t;
  }
  void upload(const void* host, const Tensor& t) override {
    const auto* src = static_cast<const uint8_t*>(host);
    for_each_row(t, [&](uint8_t* row, uint64_t bytes) {
      std::memcpy(row, src, bytes);
      src += bytes;
    });
  }
  void download(const Tensor& t, void* host) override {
    auto* dst = static_cast<uint8_t*>(host);
    for_each_row(t, [&](const uint8_t* row, uint64_t bytes) {
      std::memcpy(dst, row, bytes);
      dst += bytes;
    });
  }
  void copy(const Tensor& src, const Tensor& dst) override {
    if (src.type != dst.type || !src.same_shape(dst)) return;
    if (src.is_contiguous() && dst.is_contiguous()) {
      std::memmove(host_bytes(dst), host_bytes(src), src.span_bytes());
      return;
    }
    const uint64_t row_bytes = static_cast<uint64_t>(src.ne[0]) * src.nb[0];
    for (int64_t r = 0; r < src.n_rows(); ++r) std::memmove(host_row(dst, r), host_row(src, r), row_bytes);
  }

  void prepare_weight(WeightView* w, bool file_mapped) override {
    std::lock_guard<std::mutex> lock(mu_);
    RepackedBuffer buffer = op_repack_weight(ctx_, w, file_mapped);
    if (buffer) repacked_.push_back(std::move(buffer));
  }

  // ---- operations -------------------------------------------------------------------------------

  void matmul(const WeightView& w, const Tensor& x, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!contiguous(x, GgmlType::F32) || !contiguous(y, GgmlType::F32) || x.ne[0] != w.cols() ||
        y.ne[0] != w.rows() || x.n_rows() != y.n_rows()) {
      return fill_nan(y);
    }
    op_matmul(ctx_, w, host_f32(x), x.n_rows(), host_f32(y));
  }
  void matmul_grouped(const WeightView& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups,
                      const float* x, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_matmul_grouped(ctx_, w, experts, offsets, n_groups, x, y);
  }
  void get_rows(const WeightView& table, const Tensor& ids, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!contiguous(ids, GgmlType::I32) || !contiguous(out, GgmlType::F32) || out.ne[0] != table.cols() ||
        out.n_rows() != ids.n_elements()) {
      return fill_nan(out);
    }
    op_get_rows(ctx_, table, host_i32(ids), ids.n_elements(), host_f32(out));
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!is_f32(x) || !is_f32(y) || !x.same_shape(y) ||
        (!w.empty() && (!contiguous(w, GgmlType::F32) || w.n_elements() != x.ne[0]))) {
      return fill_nan(y);
    }
    op_rms_norm(ctx_, x, w.empty() ? nullptr : host_f32(w), eps, y);
  }
  void add(const Tensor& a, const Tensor& b, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!is_f32(a) || !is_f32(b) || !is_f32(y) || !a.same_shape(b) || !a.same_shape(y)) return fill_nan(y);
    op_add(ctx_, a, b, y);
  }
  void gate_mul(GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!is_f32(gate) || !is_f32(y) || !gate.same_shape(y) || (!x.empty() && (!is_f32(x) || !x.same_shape(y)))) {
      return fill_nan(y);
    }
    op_gate_mul(ctx_, act, gate, x, y);
  }
  void rope_neox(const Tensor& x, const Tensor& positions, int64_t n_rot, float freq_base) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!contiguous(x, GgmlType::F32) || !contiguous(positions, GgmlType::I32) ||
        positions.n_elements() != x.ne[2] * x.ne[3]) {
      return fill_nan(x);
    }
    op_rope_neox(ctx_, host_f32(x), x.ne[2] * x.ne[3], x.ne[1], x.ne[0], n_rot, host_i32(positions), freq_base);
  }
  void kv_store(const Tensor& x, const Tensor& cache, const Tensor& positions) override {
    std::lock_guard<std::mutex> lock(mu_);
    const bool cache_ok = (contiguous(cache, GgmlType::F16) || contiguous(cache, GgmlType::F32)) &&
                          cache.ne[0] == x.ne[0] && cache.ne[2] == x.ne[1];
    if (!is_f32(x) || !cache_ok || !contiguous(positions, GgmlType::I32) || positions.n_elements() != x.ne[2]) return;
    const int32_t* pos = host_i32(positions);
    for (int64_t t = 0; t < x.ne[2]; ++t) {
      if (pos[t] < 0 || pos[t] >= cache.ne[1]) return;  // the session reserves the positions first
    }
    op_kv_store(ctx_, x, cache, pos);
  }
  void attention(const AttentionShape& shape, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 const Tensor& positions, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = q.ne[2];
    bool ok = contiguous(q, GgmlType::F32) && contiguous(out, GgmlType::F32) && q.same_shape(out) &&
              q.ne[0] == shape.head_dim && q.ne[1] == shape.n_head && k_cache.type == v_cache.type &&
              (contiguous(k_cache, GgmlType::F16) || contiguous(k_cache, GgmlType::F32)) && v_cache.is_contiguous() &&
              k_cache.same_shape(v_cache) && k_cache.ne[0] == shape.head_dim && k_cache.ne[2] == shape.n_head_kv &&
              contiguous(positions, GgmlType::I32) && positions.n_elements() == n;
    const int32_t* pos = ok ? host_i32(positions) : nullptr;
    for (int64_t t = 1; ok && t < n; ++t) ok = pos[t] == pos[0] + t;  // one sequence's consecutive tokens
    if (!ok) return fill_nan(out);
    op_attention(ctx_, shape, host_f32(q), host_bytes(k_cache), host_bytes(v_cache), k_cache.type, k_cache.ne[1],
                 n > 0 ? pos[0] : 0, n, host_f32(out));
  }
  void conv1d_silu(const Tensor& x, const Tensor& weights, const Tensor& state, const Tensor& y) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t channels = x.ne[0], kernel = weights.ne[0];
    if (!contiguous(x, GgmlType::F32) || !contiguous(y, GgmlType::F32) || !x.same_shape(y) ||
        !contiguous(weights, GgmlType::F32) || weights.ne[1] != channels || !contiguous(state, GgmlType::F32) ||
        state.n_elements() != (kernel - 1) * channels) {
      return fill_nan(y);
    }
    op_conv1d_silu(ctx_, host_f32(x), host_f32(weights), host_f32(state), x.n_rows(), channels, kernel, host_f32(y));
  }
  void deltanet_gates(const Tensor& b, const Tensor& alpha, const Tensor& ssm_a, const Tensor& dt_bias,
                      const Tensor& beta, const Tensor& g) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n_heads = b.ne[0] * b.ne[1];
    if (!is_f32(b) || !is_f32(alpha) || !b.same_shape(alpha) || !contiguous(ssm_a, GgmlType::F32) ||
        !contiguous(dt_bias, GgmlType::F32) || ssm_a.n_elements() != n_heads || dt_bias.n_elements() != n_heads ||
        !contiguous(beta, GgmlType::F32) || !contiguous(g, GgmlType::F32) || beta.n_elements() != b.n_elements() ||
        g.n_elements() != b.n_elements()) {
      fill_nan(beta);
      return fill_nan(g);
    }
    op_deltanet_gates(ctx_, b, alpha, host_f32(ssm_a), host_f32(dt_bias), host_f32(beta), host_f32(g));
  }
  void delta_net(const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
                 const Tensor& beta, const Tensor& state, const Tensor& out) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = q.ne[2];
    const bool ok = is_f32(q) && is_f32(k) && q.same_shape(k) && q.ne[0] == shape.d_k && q.ne[1] == shape.n_k_heads &&
                    is_f32(v) && v.ne[0] == shape.d_v && v.ne[1] == shape.n_v_heads && v.ne[2] == n &&
                    v.nb[1] % sizeof(float) == 0 && v.nb[2] % sizeof(float) == 0 && contiguous(g, GgmlType::F32) &&
                    contiguous(beta, GgmlType::F32) && g.n_elements() == n * shape.n_v_heads &&
                    beta.n_elements() == g.n_elements() && contiguous(state, GgmlType::F32) &&
                    state.n_elements() == int64_t{shape.n_v_heads} * shape.d_k * shape.d_v &&
                    contiguous(out, GgmlType::F32) && out.n_elements() == n * shape.n_v_heads * shape.d_v;
    if (!ok) return fill_nan(out);
    op_delta_net(ctx_, shape, q, k, v, host_f32(g), host_f32(beta), host_f32(state), n, host_f32(out));
  }
  void moe_route(const Tensor& logits, const Tensor& probs, const Tensor& selected, const Tensor& weights) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = logits.n_rows();
    const auto n_expert = static_cast<int32_t>(logits.ne[0]);
    const auto k = static_cast<int32_t>(selected.ne[0]);
    if (!contiguous(logits, GgmlType::F32) || !contiguous(probs, GgmlType::F32) || !logits.same_shape(probs) ||
        !contiguous(selected, GgmlType::I32) || !contiguous(weights, GgmlType::F32) || weights.ne[0] != k ||
        selected.n_rows() != n || weights.n_rows() != n || k < 1 || k > n_expert) {
      fill_nan(probs);
      return fill_nan(weights);
    }
    op_moe_route(ctx_, host_f32(logits), n, n_expert, k, host_f32(probs), host_i32(selected), host_f32(weights));
  }
  void moe_experts(int32_t il, const Tensor& x, const Tensor& selected, const Tensor& weights,
                   const ExpertWeights& experts, const Tensor& shared, const Tensor& shared_gate, const Tensor& out,
                   ExpertHooks* hooks) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t n = x.n_rows();
    const auto k = static_cast<int32_t>(selected.ne[0]);
    const auto n_expert = static_cast<int32_t>(experts.down.ne[2]);
    bool ok = contiguous(x, GgmlType::F32) && contiguous(out, GgmlType::F32) && x.same_shape(out) &&
              contiguous(selected, GgmlType::I32) && contiguous(weights, GgmlType::F32) && selected.same_shape(weights) &&
              selected.n_rows() == n && experts.down.rows() == x.ne[0] &&
              (shared.empty() || (contiguous(shared, GgmlType::F32) && shared.same_shape(x) &&
                                  contiguous(shared_gate, GgmlType::F32) && shared_gate.n_elements() == n));
    const int32_t* sel = ok ? host_i32(selected) : nullptr;
    for (int64_t i = 0; ok && i < n * k; ++i) ok = sel[i] >= 0 && sel[i] < n_expert;
    if (!ok) return fill_nan(out);
    op_moe_experts(ctx_, *moe_, il, host_f32(x), n, x.ne[0], sel, host_f32(weights), k, n_expert, experts,
                   shared.empty() ? nullptr : host_f32(shared), shared.empty() ? nullptr : host_f32(shared_gate),
                   host_f32(out), hooks);
  }

 protected:
  void release(const Tensor& t) override { std::free(t.storage); }

 private:
  std::mutex mu_;
  std::vector<RepackedBuffer> repacked_;  // weights in the kernels' own layouts
  ThreadPool pool_;
  Scratch scratch_;
  OpContext ctx_;
  std::unique_ptr<MoeScratch, MoeScratchDeleter> moe_;
};

// A host array as a contiguous tensor.
Tensor host_tensor(const void* p, GgmlType type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
  Tensor t = Tensor::contiguous(type, ne0, ne1, ne2);
  t.storage = const_cast<void*>(p);
  return t;
}

}  // namespace
}  // namespace cpu

// ---- host arrays ---------------------------------------------------------------------------------

void CpuBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  matmul(w, cpu::host_tensor(x, GgmlType::F32, w.cols(), n_tokens), cpu::host_tensor(y, GgmlType::F32, w.rows(), n_tokens));
}

void CpuBackend::get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out) {
  get_rows(table, cpu::host_tensor(ids, GgmlType::I32, n), cpu::host_tensor(out, GgmlType::F32, table.cols(), n));
}

void CpuBackend::rms_norm(const float* x, const float* w, int64_t n, int64_t n_rows, float eps, float* y) {
  rms_norm(cpu::host_tensor(x, GgmlType::F32, n, n_rows), w != nullptr ? cpu::host_tensor(w, GgmlType::F32, n) : Tensor{},
           eps, cpu::host_tensor(y, GgmlType::F32, n, n_rows));
}

void CpuBackend::rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                           const int32_t* positions, float freq_base) {
  rope_neox(cpu::host_tensor(x, GgmlType::F32, head_dim, n_heads, n_tokens),
            cpu::host_tensor(positions, GgmlType::I32, n_tokens), n_rot, freq_base);
}

void CpuBackend::attention(const AttentionShape& shape, const float* q, const void* k_cache, const void* v_cache,
                           GgmlType kv_type, int64_t kv_capacity, int64_t pos0, int64_t n_tokens, float* out) {
  std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) positions[static_cast<size_t>(t)] = static_cast<int32_t>(pos0 + t);
  attention(shape, cpu::host_tensor(q, GgmlType::F32, shape.head_dim, shape.n_head, n_tokens),
            cpu::host_tensor(k_cache, kv_type, shape.head_dim, kv_capacity, shape.n_head_kv),
            cpu::host_tensor(v_cache, kv_type, shape.head_dim, kv_capacity, shape.n_head_kv),
            cpu::host_tensor(positions.data(), GgmlType::I32, n_tokens),
            cpu::host_tensor(out, GgmlType::F32, shape.head_dim, shape.n_head, n_tokens));
}

void CpuBackend::gate_mul(GateActivation act, const float* gate, const float* x, int64_t n, float* y) {
  gate_mul(act, cpu::host_tensor(gate, GgmlType::F32, n), x != nullptr ? cpu::host_tensor(x, GgmlType::F32, n) : Tensor{},
           cpu::host_tensor(y, GgmlType::F32, n));
}

void CpuBackend::conv1d_silu(const float* x, const float* weights, float* state, int64_t n_tokens, int64_t channels,
                             int64_t kernel, float* y) {
  conv1d_silu(cpu::host_tensor(x, GgmlType::F32, channels, n_tokens), cpu::host_tensor(weights, GgmlType::F32, kernel, channels),
              cpu::host_tensor(state, GgmlType::F32, channels, kernel - 1), cpu::host_tensor(y, GgmlType::F32, channels, n_tokens));
}

void CpuBackend::delta_net(const DeltaNetShape& shape, const float* q, const float* k, const float* v, const float* g,
                           const float* beta, float* state, int64_t n_tokens, float* out) {
  const int64_t hk = shape.n_k_heads, hv = shape.n_v_heads;
  delta_net(shape, cpu::host_tensor(q, GgmlType::F32, shape.d_k, hk, n_tokens),
            cpu::host_tensor(k, GgmlType::F32, shape.d_k, hk, n_tokens),
            cpu::host_tensor(v, GgmlType::F32, shape.d_v, hv, n_tokens), cpu::host_tensor(g, GgmlType::F32, hv, n_tokens),
            cpu::host_tensor(beta, GgmlType::F32, hv, n_tokens),
            cpu::host_tensor(state, GgmlType::F32, shape.d_v, shape.d_k, hv),
            cpu::host_tensor(out, GgmlType::F32, shape.d_v, hv, n_tokens));
}

std::unique_ptr<CpuBackend> make_cpu_backend(int n_threads) { return std::make_unique<cpu::CpuBackendImpl>(n_threads); }

}  // namespace petrel
