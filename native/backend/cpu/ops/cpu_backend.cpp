// CpuBackend: binds the thread pool, the kernel table and the scratch buffers to the op
// implementations in this folder (matmul.cpp, get_rows.cpp, norm_rope.cpp, attention.cpp,
// conv.cpp, delta_net.cpp), and serialises calls so the per-thread scratch is never shared.
#include "backend/cpu/ops/cpu_backend.h"

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

namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads)
      : pool_(n_threads), scratch_(pool_.n_threads()), ctx_{pool_, cpu_kernels(), scratch_} {}

  const char* name() const override { return "cpu"; }

  void prepare_weight(WeightView* w, bool file_mapped) override {
    std::lock_guard<std::mutex> lock(mu_);
    RepackedBuffer buffer = op_repack_weight(ctx_, w, file_mapped);
    if (buffer) repacked_.push_back(std::move(buffer));
  }

  void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_matmul(ctx_, w, x, n_tokens, y);
  }
  void matmul_grouped(const WeightView& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups,
                      const float* x, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_matmul_grouped(ctx_, w, experts, offsets, n_groups, x, y);
  }
  void get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_get_rows(ctx_, table, ids, n, out);
  }
  void rms_norm(const float* x, const float* w, int64_t n, int64_t n_rows, float eps, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_rms_norm(ctx_, x, w, n, n_rows, eps, y);
  }
  void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot, const int32_t* positions,
                 float freq_base) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_rope_neox(ctx_, x, n_tokens, n_heads, head_dim, n_rot, positions, freq_base);
  }
  void attention(const AttentionShape& shape, const float* q, const void* k_cache, const void* v_cache, GgmlType kv_type,
                 int64_t kv_capacity, int64_t pos0, int64_t n_tokens, float* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_attention(ctx_, shape, q, k_cache, v_cache, kv_type, kv_capacity, pos0, n_tokens, out);
  }
  void gate_mul(GateActivation act, const float* gate, const float* x, int64_t n, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_gate_mul(ctx_, act, gate, x, n, y);
  }
  void conv1d_silu(const float* x, const float* weights, float* state, int64_t n_tokens, int64_t channels,
                   int64_t kernel, float* y) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_conv1d_silu(ctx_, x, weights, state, n_tokens, channels, kernel, y);
  }
  void delta_net(const DeltaNetShape& shape, const float* q, const float* k, const float* v, const float* g,
                 const float* beta, float* state, int64_t n_tokens, float* out) override {
    std::lock_guard<std::mutex> lock(mu_);
    op_delta_net(ctx_, shape, q, k, v, g, beta, state, n_tokens, out);
  }

 private:
  std::mutex mu_;
  std::vector<RepackedBuffer> repacked_;  // weights in the kernels' own layouts
  ThreadPool pool_;
  Scratch scratch_;
  OpContext ctx_;
};

}  // namespace
}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<cpu::CpuBackend>(n_threads); }

}  // namespace petrel
