// The one interface every compute backend implements (CPU now; CUDA and Metal later).
// Model code (native/model/) calls only these operations; it contains no kernel code.
//
// Conventions (GGUF/ggml order): a weight {cols, rows} is `rows` rows of length `cols`, and
// matmul computes y[t][r] = sum_c W[r][c] * x[t][c] for every token t of the batch.
// Activations are float32, row-major [n_tokens][width]. Every operation is synchronous: it has
// finished when it returns (a backend may use its own threads inside).
#pragma once

#include <cstdint>
#include <string>

#include "backend/activation.h"
#include "quant/ggml_type.h"

namespace petrel {

// A weight tensor bound to its bytes (memory-mapped file data, or backend memory).
struct WeightView {
  GgmlType type = GgmlType::F32;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] = row length (cols)
  const uint8_t* data = nullptr;
  uint64_t row_bytes = 0;        // bytes of one row of ne[0] elements
  const char* name = "";
  // Set by Backend::prepare_weight when the backend also keeps the rows in a layout of its own
  // (the CPU backend: Q4_K rows eight at a time); `data` stays the file's bytes.
  const uint8_t* repacked = nullptr;
  uint64_t repacked_slab_bytes = 0;  // bytes of one matrix (slab) in that layout

  int64_t cols() const { return ne[0]; }
  int64_t rows() const { return ne[1]; }
  // Matrix `e` of a stacked 3-D tensor (MoE experts: {cols, rows, n_expert}).
  WeightView slab(int64_t e) const {
    WeightView v = *this;
    v.ne[2] = 1;
    v.data = data + static_cast<uint64_t>(e) * static_cast<uint64_t>(ne[1]) * row_bytes;
    if (repacked != nullptr) v.repacked = repacked + static_cast<uint64_t>(e) * repacked_slab_bytes;
    return v;
  }
};

// Per-head parameters of one Gated DeltaNet layer's recurrence.
struct DeltaNetShape {
  int32_t n_k_heads;    // Hk (ssm.group_count)
  int32_t n_v_heads;    // Hv (ssm.time_step_rank)
  int32_t d_k;          // ssm.state_size
  int32_t d_v;          // ssm.inner_size / Hv
  bool grouped_heads;   // qwen3next: v head p uses k head p / (Hv/Hk); qwen35: p % Hk (tiled)
  float eps;            // l2-norm eps
};

struct AttentionShape {
  int32_t n_head;
  int32_t n_head_kv;
  int32_t head_dim;
  float scale;          // 1/sqrt(head_dim)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Called once per weight matrix at model load: the backend may keep the weight in a faster
  // layout of its own (owned by the backend for its lifetime) and note it in *w. Leaves *w as it
  // was when it does not (or cannot: out of memory is not an error here, only slower).
  // file_mapped: w->data is a read-only file mapping, so once repacked its pages may be dropped
  // from the process (they fault back in from the file if read again).
  virtual void prepare_weight(WeightView* w, bool file_mapped) = 0;

  // y[t] = W x[t]; y is [n_tokens][W.rows()].
  virtual void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) = 0;

  // Mixture-of-experts products as one operation: rows [offsets[i], offsets[i + 1]) of x go
  // through expert experts[i] of the stacked weight w ({cols, rows, n_expert}), y[r] = W_e x[r];
  // offsets[0] == 0, y is [offsets[n_groups]][w.rows()]. The same results as one matmul per
  // group, without a dispatch per expert: the experts of a layer (each with a few prefill tokens,
  // or one decode token) run in parallel.
  virtual void matmul_grouped(const WeightView& w, const int32_t* experts, const int64_t* offsets, int64_t n_groups,
                              const float* x, float* y) = 0;

  // out[i] = dequantized row ids[i] of `table` (token embedding lookup).
  virtual void get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out) = 0;

  // y = x / sqrt(mean(x^2) + eps) * w, per row of length n (w may be null: no scaling).
  // y may equal x (in place).
  virtual void rms_norm(const float* x, const float* w, int64_t n, int64_t n_rows, float eps, float* y) = 0;

  // NEOX RoPE in place on the first n_rot dims of each head: pairs (i, i + n_rot/2).
  // x is [n_tokens][n_heads][head_dim]; positions[t] is token t's position.
  virtual void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                         const int32_t* positions, float freq_base) = 0;

  // Causal GQA attention of n_tokens new queries at positions [pos0, pos0 + n_tokens) over a KV
  // cache holding positions [0, pos0 + n_tokens) (the new keys/values already appended).
  // q: [n_tokens][n_head][head_dim]; k_cache/v_cache: [n_head_kv][kv_capacity][head_dim] of kv_type
  // (F16 or F32), head-major so that each KV head's keys are one contiguous stream (decode at depth
  // is bound by reading them); out: [n_tokens][n_head][head_dim].
  virtual void attention(const AttentionShape& shape, const float* q, const void* k_cache, const void* v_cache,
                         GgmlType kv_type, int64_t kv_capacity, int64_t pos0, int64_t n_tokens, float* out) = 0;

  // y[i] = act(gate[i]) * x[i] over n values (x null: act(gate[i])); y may alias gate or x.
  // The gates between operations: SwiGLU, the DeltaNet output gate, attention's sigmoid gate.
  virtual void gate_mul(GateActivation act, const float* gate, const float* x, int64_t n, float* y) = 0;

  // Causal depthwise conv (kernel K) + SiLU over n_tokens, with a rolling state of the last K-1
  // inputs per channel (state: [K-1][channels], oldest first; updated in place).
  // weights: [channels][K] taps, oldest first. x, y: [n_tokens][channels]; y must not overlap x.
  virtual void conv1d_silu(const float* x, const float* weights, float* state, int64_t n_tokens, int64_t channels,
                           int64_t kernel, float* y) = 0;

  // Gated delta rule over n_tokens for all value heads, updating `state` in place.
  // q, k: [n_tokens][Hk][d_k] (raw, not yet l2-normalised); v: [n_tokens][Hv][d_v];
  // g (log decay) and beta: [n_tokens][Hv]; state: [Hv][d_k][d_v]; out: [n_tokens][Hv][d_v].
  // The output is scaled by 1/sqrt(d_k). Prefill may use the chunked form; results must agree.
  virtual void delta_net(const DeltaNetShape& shape, const float* q, const float* k, const float* v, const float* g,
                         const float* beta, float* state, int64_t n_tokens, float* out) = 0;
};

}  // namespace petrel
