// The one interface every compute backend implements (the CPU, Vulkan), as
// docs/EXECUTION.md#the-model describes it: operations on tensors that live where the backend
// keeps them (backend/tensor.h), plus the memory functions that make those tensors and move
// bytes across for snapshots and logits. Model code (native/model/) expresses a step only as
// these operations; it contains no kernel code and does no arithmetic on activations.
//
// Conventions (GGUF/ggml order): a weight {cols, rows} is `rows` rows of length `cols`, and
// matmul computes y[t][r] = sum_c W[r][c] * x[t][c] for every token t of the batch.
// Activations are F32 tensors {width, n_tokens}; per-head ones {head_dim, n_heads, n_tokens}.
// Token ids, positions and expert ids are I32 tensors: per-step values are data the operations
// read, never arguments, so a device can record a step once and replay it. An operation may
// run when it is called (the CPU) or be queued (a device); download waits for what it reads.
#pragma once

#include <cstdint>
#include <string>

#include "backend/activation.h"
#include "backend/tensor.h"
#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel {

struct ExpertWeights;  // backend/expert_weights.h
class ExpertHooks;     // backend/expert_hooks.h

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
  // Bytes of the whole tensor in the file's layout (every matrix of a stack).
  uint64_t bytes() const {
    return static_cast<uint64_t>(ne[1]) * static_cast<uint64_t>(ne[2]) * static_cast<uint64_t>(ne[3]) * row_bytes;
  }
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
  // As llama-bench names backends: "CPU", "Vulkan".
  virtual const char* name() const = 0;
  // The device it runs on ("" for the CPU).
  virtual std::string device_name() const { return ""; }

  // Waits for every operation queued so far and returns the first error any operation or memory
  // function met since the last sync (ops return nothing, so a device's failures surface here:
  // a shape it has no shader for, device memory exhausted, a lost device), clearing it. After an
  // error the results of the step are undefined. The CPU backend runs each operation as it is
  // called and cannot fail one, so it returns ok.
  virtual Status sync() { return Status(); }

  // ---- memory -----------------------------------------------------------------------------------

  // A zero-filled contiguous tensor of desc's type and shape (Tensor::contiguous); out_of_memory
  // when the backend cannot have it.
  virtual Status allocate(const Tensor& desc, TensorBuffer* out) = 0;
  // Constant values from host memory that stays valid while the backend lives (the file mapping,
  // the loader's conversions), as a tensor of desc's type and shape: the CPU backend reads them in
  // place, a device backend keeps a copy for its lifetime. The weights' vectors (norms, gates,
  // conv taps) come through here once at load, as the matrices go through prepare_weight.
  virtual Status constant(const void* host, const Tensor& desc, Tensor* out) = 0;
  // Host memory the caller owns (it outlives every use) as a tensor of desc's shape that
  // operations write in place, so an output read on the host (the logits) needs no copy; an
  // empty tensor when the backend cannot compute on host memory (then allocate and download).
  virtual Tensor wrap_host(void* host, const Tensor& desc) = 0;
  // Whether operations compute on host memory (wrap_host gives a tensor): then the weights are
  // read in place and outputs written straight into the caller's memory.
  bool computes_on_host_memory() {
    float probe = 0.0f;
    return !wrap_host(&probe, Tensor::contiguous(GgmlType::F32, 1)).empty();
  }
  // host holds t's elements in order (ne[0] fastest), packed: upload writes them into t, download
  // reads t into host (after every operation queued before it). Strided tensors are gathered or
  // scattered, so a snapshot reads the head-major KV cache position by position.
  virtual void upload(const void* host, const Tensor& t) = 0;
  virtual void download(const Tensor& t, void* host) = 0;
  // dst = src, elementwise over equal shapes and types (any strides).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;

  // Called once per weight matrix at model load: the backend may keep the weight in a faster
  // layout of its own (owned by the backend for its lifetime) and note it in *w. Leaves *w as it
  // was when it does not (or cannot: for the CPU, out of memory is not an error here, only
  // slower). A device backend copies every weight here; its failure (no shader for the type, no
  // device memory) is reported by the next sync().
  // file_mapped: w->data is a read-only file mapping, so once repacked its pages may be dropped
  // from the process (they fault back in from the file if read again).
  virtual void prepare_weight(WeightView* w, bool file_mapped) = 0;

  // ---- operations -------------------------------------------------------------------------------
  // Outputs never overlap inputs unless an operation says they may.

  // y = W x: x {W.cols(), n}, y {W.rows(), n}, both contiguous.
  virtual void matmul(const WeightView& w, const Tensor& x, const Tensor& y) = 0;

  // out[i] = dequantized row ids[i] of `table` (token embedding lookup): ids I32 {n}, out {cols, n}.
  virtual void get_rows(const WeightView& table, const Tensor& ids, const Tensor& out) = 0;

  // y = x / sqrt(mean(x^2) + eps) * w per row of ne[0] values (w {ne[0]}, or empty: no scaling).
  // x may be strided; y has x's shape and may be x itself.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) = 0;

  // y = a + b elementwise over equal shapes (the residual connection); y may be a.
  virtual void add(const Tensor& a, const Tensor& b, const Tensor& y) = 0;

  // y = act(gate) * x elementwise over equal shapes (x empty: act(gate)); gate may be strided;
  // y may be gate or x. The gates between operations: SwiGLU, the DeltaNet output gate,
  // attention's sigmoid gate.
  virtual void gate_mul(GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y) = 0;

  // NEOX RoPE in place on the first n_rot dims of each head: pairs (i, i + n_rot/2).
  // x {head_dim, n_heads, n} contiguous; positions I32 {n}: token t's position.
  virtual void rope_neox(const Tensor& x, const Tensor& positions, int64_t n_rot, float freq_base) = 0;

  // Writes this batch's keys (or values) x {head_dim, n_head_kv, n} into the head-major cache
  // {head_dim, capacity, n_head_kv} (F16 or F32) at the positions I32 {n}; F16 values are rounded
  // as ggml rounds them.
  virtual void kv_store(const Tensor& x, const Tensor& cache, const Tensor& positions) = 0;

  // Causal GQA attention of n queries over a KV cache that already holds their keys and values.
  // q {head_dim, n_head, n}; k_cache, v_cache {head_dim, capacity, n_head_kv} of F16 or F32,
  // head-major so that each KV head's keys are one contiguous stream (decode at depth is bound by
  // reading them); positions I32 {n}, consecutive: query t at positions[t] sees cache positions
  // [0, positions[t]]; out {head_dim, n_head, n}.
  virtual void attention(const AttentionShape& shape, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         const Tensor& positions, const Tensor& out) = 0;

  // Causal depthwise conv (kernel K) + SiLU over n tokens, with a rolling state of the last K-1
  // inputs per channel (state {channels, K-1}, oldest first; updated in place).
  // weights {K, channels}: each channel's taps, oldest first. x, y {channels, n} contiguous.
  virtual void conv1d_silu(const Tensor& x, const Tensor& weights, const Tensor& state, const Tensor& y) = 0;

  // The DeltaNet gates per token and value head p (docs/MODEL.md#gates):
  //   beta = sigmoid(b),   g = ssm_a[p] * softplus(alpha + dt_bias[p])   (softplus(x) = x above 20)
  // b, alpha {ne0, ne1, n}: value head p = i0 + ne0 * i1, so qwen3next's ssm_ba rows, grouped per
  // key head ([b (r) | alpha (r)] per key head), are read through views {r, Hk, n} with no
  // reshuffle; ssm_a, dt_bias {Hv}; beta, g {Hv, n} contiguous.
  virtual void deltanet_gates(const Tensor& b, const Tensor& alpha, const Tensor& ssm_a, const Tensor& dt_bias,
                              const Tensor& beta, const Tensor& g) = 0;

  // Gated delta rule over n tokens for all value heads, updating `state` in place.
  // q, k {d_k, Hk, n} (raw, not yet l2-normalised) and v {d_v, Hv, n} may be strided (columns of
  // the conv output); g (log decay) and beta {Hv, n}; state {d_v, d_k, Hv}; out {d_v, Hv, n}.
  // The output is scaled by 1/sqrt(d_k). Prefill may use the chunked form; results must agree.
  virtual void delta_net(const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v,
                         const Tensor& g, const Tensor& beta, const Tensor& state, const Tensor& out) = 0;

  // MoE routing (docs/MODEL.md#moe-ffn) of every token from its router logits {n_expert, n}:
  // probs {n_expert, n} = softmax over all experts (ffn_moe_probs); selected I32 {k, n} = the k
  // most probable, ties to the lower id (ffn_moe_topk); weights {k, n} = their probabilities over
  // max(their sum, 2^-14) (ffn_moe_weights_norm).
  virtual void moe_route(const Tensor& logits, const Tensor& probs, const Tensor& selected, const Tensor& weights) = 0;

  // MoE layer il's routed experts, combined: out[t] = sum_i weights[t][i] E_sel(x[t]), each token's
  // experts added in ascending expert order, with E_e(x) = down_e(silu(gate_e x) ⊙ up_e x); then,
  // when `shared` is given, out[t] += sigmoid(shared_gate[t]) shared[t] (the shared expert's
  // output {n_embd, n} and its gate logit {1, n}). x, out {n_embd, n}; selected, weights as
  // moe_route makes them. hooks: the expert offload (null: every expert here).
  virtual void moe_experts(int32_t il, const Tensor& x, const Tensor& selected, const Tensor& weights,
                           const ExpertWeights& experts, const Tensor& shared, const Tensor& shared_gate,
                           const Tensor& out, ExpertHooks* hooks) = 0;

 protected:
  friend class TensorBuffer;
  // Frees the memory of a tensor allocate made.
  virtual void release(const Tensor& t) = 0;
};

inline void TensorBuffer::reset() {
  if (owner_ != nullptr) owner_->release(tensor_);
  owner_ = nullptr;
  tensor_ = Tensor{};
}

}  // namespace petrel
