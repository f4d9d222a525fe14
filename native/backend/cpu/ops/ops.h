// Internal to the CPU backend: the context every op implementation receives (thread pool,
// kernel table, grow-only scratch) and the op entry points, one family per .cpp file.
// The argument conventions are those of backend.h; cpu_backend.cpp only forwards to these.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/expert_hooks.h"
#include "backend/expert_weights.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops/thread_pool.h"

namespace petrel::cpu {

// Scratch memory reused across calls: one buffer per pool thread plus one shared buffer.
// A thread only ever touches its own buffer (thread_index is unique among running tasks), so
// growing it inside a task is safe. The backend serialises ops, so buffers are never shared
// between two calls.
class Scratch {
 public:
  explicit Scratch(int n_threads) : per_thread_(static_cast<size_t>(n_threads)) {}
  float* thread_buffer(int thread_index, size_t n) { return grow(per_thread_[static_cast<size_t>(thread_index)], n); }
  // Call only outside parallel_for (before dispatching the tasks that read it).
  float* shared_buffer(size_t n) { return grow(shared_, n); }

 private:
  static float* grow(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  std::vector<std::vector<float>> per_thread_;
  std::vector<float> shared_;
};

// Chunk size for parallel_for: about 4 chunks per thread, but never chunks of less than ~32K
// multiply-adds, so tiny ops run inline instead of paying a dispatch (microseconds, or a whole
// scheduler tick on a busy machine) for nanoseconds of work.
inline int64_t grain_for(const ThreadPool& pool, int64_t n_tasks, int64_t work_per_task) {
  constexpr int64_t kMinWorkPerChunk = 32768;
  const int64_t by_work = kMinWorkPerChunk / (work_per_task > 0 ? work_per_task : 1) + 1;
  const int64_t by_balance = n_tasks / (4 * static_cast<int64_t>(pool.n_threads()));
  return by_work > by_balance ? by_work : (by_balance > 0 ? by_balance : 1);
}

struct OpContext {
  ThreadPool& pool;
  const CpuKernels& kernels;
  Scratch& scratch;
};

// Dequantizes one weight row of n elements to float32 (the SIMD table for f16/bf16/q8_0, the
// reference converters for everything else). False for a type that cannot be converted.
bool dequantize_weight_row(const CpuKernels& kernels, GgmlType type, const uint8_t* src, float* dst, int64_t n);

// The type llama.cpp rounds activations through before a matmul with `weight` (its vec_dot_type):
// Q8_0 for the 32-element formats, Q8_K for K-quants and IQ4_XS, F16/BF16 for half weights, F32
// (no rounding) otherwise. matmul applies it, so the logits match llama.cpp's on quantized files.
GgmlType matmul_activation_type(GgmlType weight);
// x rounded through `type` (quantize, then dequantize) row by row into out; false if a row cannot be.
bool round_activations(GgmlType type, const float* x, int64_t n_tokens, int64_t cols, float* out);

// True when matmul multiplies `weight` in its packed form with integer kernels (activations
// quantized to its vec_dot type) rather than dequantizing it to float.
bool matmul_is_integer(const CpuKernels& kernels, GgmlType weight);

// Anonymous memory that holds repacked weights, in 2 MiB pages where the kernel allows
// (MADV_HUGEPAGE): it is written once at load, and with 4 KiB pages a page fault and the zeroing
// of each page are a large part of loading a MoE model whose experts are repacked.
class RepackedBuffer {
 public:
  RepackedBuffer() = default;
  RepackedBuffer(RepackedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) { o.data_ = nullptr; }
  RepackedBuffer& operator=(RepackedBuffer&& o) noexcept;
  RepackedBuffer(const RepackedBuffer&) = delete;
  RepackedBuffer& operator=(const RepackedBuffer&) = delete;
  ~RepackedBuffer();
  // An empty buffer when the memory cannot be had.
  static RepackedBuffer allocate(size_t bytes);
  uint8_t* data() const { return data_; }
  explicit operator bool() const { return data_ != nullptr; }

 private:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// The weight in the layout a faster kernel reads (Q4_K and Q6_K matrices, or stacked experts, with
// rows % 8 == 0: rows repacked eight at a time, BlockQ4_Kx8 / BlockQ6_Kx8), filling w->repacked;
// an empty buffer (w unchanged) when there is none or memory is short. The caller keeps the
// buffer alive as long as w is used.
// file_mapped: see Backend::prepare_weight (the source pages are dropped after repacking).
RepackedBuffer op_repack_weight(OpContext& ctx, WeightView* w, bool file_mapped);

// The repacked layout of a weight type (Q4_K, Q6_K): bytes per 8 rows x 256 columns in it and in
// the file, and the repacker of 8 rows (the kernel table's where it has one); repack is nullptr
// for other types.
struct RepackFormat {
  uint64_t block_bytes = 0;
  uint64_t src_block_bytes = 0;
  void (*repack)(const CpuKernels& k, const uint8_t* src, uint64_t row_bytes, int64_t cols, uint8_t* dst) = nullptr;
};
RepackFormat repack_format(GgmlType type);
// Whether w can take its type's repacked layout: a repack format, rows % 8 == 0, whole 256-column
// blocks, rows packed back to back (a 2-D matrix or a stack of them).
bool repackable(const WeightView& w);

// Host addresses of the CPU backend's tensors: their storage is host memory.
inline uint8_t* host_bytes(const Tensor& t) { return static_cast<uint8_t*>(t.storage) + t.offset; }
inline float* host_f32(const Tensor& t) { return reinterpret_cast<float*>(host_bytes(t)); }
inline int32_t* host_i32(const Tensor& t) { return reinterpret_cast<int32_t*>(host_bytes(t)); }
// Row r of t, rows counted over dimensions 1..3 (i1 fastest).
inline uint8_t* host_row(const Tensor& t, int64_t r) {
  const int64_t i1 = r % t.ne[1], rest = r / t.ne[1];
  return static_cast<uint8_t*>(t.storage) + t.row_offset(i1, rest % t.ne[2], rest / t.ne[2]);
}

void op_matmul(OpContext& ctx, const WeightView& w, const float* x, int64_t n_tokens, float* y);
void op_matmul_grouped(OpContext& ctx, const WeightView& w, const int32_t* experts, const int64_t* offsets,
                       int64_t n_groups, const float* x, float* y);
void op_get_rows(OpContext& ctx, const WeightView& table, const int32_t* ids, int64_t n, float* out);
// x, y: F32 tensors of one shape, any strides (y may be x); w: ne[0] floats or null.
void op_rms_norm(OpContext& ctx, const Tensor& x, const float* w, float eps, const Tensor& y);
void op_rope_neox(OpContext& ctx, float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                  const int32_t* positions, float freq_base);
// x {head_dim, n_head_kv, n} (any strides) into cache {head_dim, capacity, n_head_kv} at positions.
void op_kv_store(OpContext& ctx, const Tensor& x, const Tensor& cache, const int32_t* positions);
void op_attention(OpContext& ctx, const AttentionShape& shape, const float* q, const void* k_cache,
                  const void* v_cache, GgmlType kv_type, int64_t kv_capacity, int64_t pos0, int64_t n_tokens,
                  float* out);
// gate, x, y: F32 tensors of one shape (x may be empty), any strides.
void op_gate_mul(OpContext& ctx, GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y);
void op_gate_mul(OpContext& ctx, GateActivation act, const float* gate, const float* x, int64_t n, float* y);
// a, b, y: F32 tensors of one shape, any strides.
void op_add(OpContext& ctx, const Tensor& a, const Tensor& b, const Tensor& y);
void op_conv1d_silu(OpContext& ctx, const float* x, const float* weights, float* state, int64_t n_tokens,
                    int64_t channels, int64_t kernel, float* y);
// b, alpha {ne0, ne1, n} (any strides, value head i0 + ne0 i1); beta, g [n][Hv].
void op_deltanet_gates(OpContext& ctx, const Tensor& b, const Tensor& alpha, const float* ssm_a, const float* dt_bias,
                       float* beta, float* g);
// q, k {d_k, Hk, n}, v {d_v, Hv, n}: rows contiguous, heads and tokens any strides.
void op_delta_net(OpContext& ctx, const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v,
                  const float* g, const float* beta, float* state, int64_t n_tokens, float* out);

// MoE (moe.cpp). route_token: one token's probabilities over n_expert experts, its top k (ties
// to the lower id) and their weights renormalised over max(sum, 2^-14); the reference the Vulkan
// routing shader is tested against.
void route_token(int32_t n_expert, int32_t k, const float* logits, float* probs, int32_t* selected, float* weights);
// route: every token's probabilities, top-k experts and renormalised weights.
void op_moe_route(OpContext& ctx, const float* logits, int64_t n_tokens, int32_t n_expert, int32_t k, float* probs,
                  int32_t* selected, float* weights);
// The MoE operation's memory, kept across calls (grow-only).
struct MoeScratch;
struct MoeScratchDeleter {
  void operator()(MoeScratch* s) const;
};
std::unique_ptr<MoeScratch, MoeScratchDeleter> make_moe_scratch();
// Backend::moe_experts on host arrays: x, out [n][n_embd]; selected, weights [n][k]; shared and
// shared_gate null, or [n][n_embd] and [n].
void op_moe_experts(OpContext& ctx, MoeScratch& scratch, int32_t il, const float* x, int64_t n_tokens, int64_t n_embd,
                    const int32_t* selected, const float* weights, int32_t k, int32_t n_expert,
                    const ExpertWeights& experts, const float* shared, const float* shared_gate, float* out,
                    ExpertHooks* hooks);

// Fills n floats with a quiet NaN: what an op writes when its arguments break the contract
// (the model loader validates shapes and types, so this is a guard, loud rather than silent).
void fill_nan(float* y, int64_t n);
// Every element of an F32 tensor (any strides) a quiet NaN.
void fill_nan(const Tensor& t);

}  // namespace petrel::cpu
