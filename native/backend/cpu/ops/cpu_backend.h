// The CPU implementation of the Backend interface (backend.h). Its tensors are host memory, so
// views cost nothing and the per-step values it reads (token ids, positions, expert ids) are
// plain loads. It owns one persistent thread pool; each operation runs on it and has finished
// when it returns. Operations on one backend are serialised (a mutex), so one backend may be
// shared by several callers; for parallel sessions give each its own backend.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace petrel {

class CpuBackend : public Backend {
 public:
  using Backend::attention;
  using Backend::conv1d_silu;
  using Backend::delta_net;
  using Backend::gate_mul;
  using Backend::get_rows;
  using Backend::matmul;
  using Backend::rms_norm;
  using Backend::rope_neox;

  // The operations on plain host arrays, contiguous in the layouts backend.h gives (activations
  // [n_tokens][width]; caches [n_head_kv][kv_capacity][head_dim]): each is wrapped as tensors and
  // run as the tensor operation. For the single-op tests and benches, and for other backends'
  // tests, which compare against the CPU.
  void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y);
  // Rows [offsets[i], offsets[i + 1]) of x through expert experts[i] of the stacked weight w:
  // the grouped product moe_experts runs, with the results of one matmul per group.
  virtual void matmul_grouped(const WeightView& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups,
                              const float* x, float* y) = 0;
  void get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out);
  void rms_norm(const float* x, const float* w, int64_t n, int64_t n_rows, float eps, float* y);
  void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                 const int32_t* positions, float freq_base);
  // Queries at positions [pos0, pos0 + n_tokens).
  void attention(const AttentionShape& shape, const float* q, const void* k_cache, const void* v_cache,
                 GgmlType kv_type, int64_t kv_capacity, int64_t pos0, int64_t n_tokens, float* out);
  void gate_mul(GateActivation act, const float* gate, const float* x, int64_t n, float* y);
  void conv1d_silu(const float* x, const float* weights, float* state, int64_t n_tokens, int64_t channels,
                   int64_t kernel, float* y);
  void delta_net(const DeltaNetShape& shape, const float* q, const float* k, const float* v, const float* g,
                 const float* beta, float* state, int64_t n_tokens, float* out);
};

// n_threads <= 0: one thread per hardware thread. The caller's thread counts as one of them.
std::unique_ptr<CpuBackend> make_cpu_backend(int n_threads);

}  // namespace petrel
