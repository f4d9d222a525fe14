// matmul (y[t][r] = sum_c W[r][c] x[t][c]) for every weight type quant/convert.h can
// dequantize, and the shared row dequantizer.
//
// Three paths:
// - Integer (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K): the activations are quantized once per call to the
//   weight format's vec_dot type (Q8_0 or Q8_K, as llama.cpp does), then each weight row is
//   multiplied in its packed form with up to kMaxDotActs tokens at a time (CpuKernels::dot_*).
//   A task is (block of weight rows, block of up to 64 tokens): the row block stays in L1 while
//   the token block, in L2, streams past it, and long prompts spread over threads even for
//   matrices with few rows. This is the path quantized models take.
// - Q4_K and Q6_K matrices the backend repacked at load (rows eight at a time, op_repack_weight),
//   or that a task repacks first (kRepackInTaskMinTokens): the same tasks, 16 rows per kernel call
//   in prefill, 8 in decode (CpuKernels::dot_q4_K_x8, dot_q6_K_x8).
// - Float (every other type): the task dequantizes its rows into the thread's float buffer and
//   dots every row with every token (cpu_kernels().dot_f32), after rounding the activations
//   through the same vec_dot type so the numbers still match llama.cpp's.
// Every way, each output is computed by the same kernel call on the same data whatever the
// threading, so results are bit-identical for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/ops/ops.h"
#include "quant/convert.h"

namespace petrel::cpu {

bool dequantize_weight_row(const CpuKernels& kernels, GgmlType type, const uint8_t* src, float* dst, int64_t n) {
  const bool aligned2 = reinterpret_cast<uintptr_t>(src) % 2 == 0;
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case GgmlType::F16:
      if (!aligned2) break;
      kernels.dequantize_row_f16(reinterpret_cast<const uint16_t*>(src), dst, n);
      return true;
    case GgmlType::BF16:
      if (!aligned2) break;
      kernels.dequantize_row_bf16(reinterpret_cast<const uint16_t*>(src), dst, n);
      return true;
    case GgmlType::Q8_0:
      if (!aligned2 || n % QK8_0 != 0) break;
      kernels.dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(src), dst, n);
      return true;
    default:
      break;
  }
  // The reference converters check the count and bounce unaligned input.
  return dequantize_row(type, src, dst, n).ok();
}

namespace {

// Weight rows per task: about 64 KiB of dequantized floats, at most 16 rows.
int64_t rows_per_block(int64_t cols, int64_t n_tokens) {
  if (n_tokens == 1) return 1;
  return std::clamp<int64_t>(16384 / std::max<int64_t>(cols, 1), 1, 16);
}

constexpr int64_t kTokensPerBlock = 64;


bool valid_weight(const WeightView& w) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(w.type));
  if (info == nullptr || !can_dequantize(w.type) || w.data == nullptr || w.cols() <= 0) return false;
  if (w.cols() % info->block_size != 0) return false;
  uint64_t bytes = 0;
  return ggml_row_bytes(*info, static_cast<uint64_t>(w.cols()), &bytes) && bytes <= w.row_bytes;
}

}  // namespace

// llama.cpp converts the activations to the weight type's `vec_dot_type` before a matmul: Q8_0
// for the 32-element formats, Q8_K for the K-quants and IQ4_XS, fp16/bf16 for half weights.
// Rounding ours the same way makes logits on quantized files agree with llama.cpp's to float
// round-off instead of ~1e-3 (the integer kernels of the speed work compute exactly this).
GgmlType matmul_activation_type(GgmlType weight) {
  switch (weight) {
    case GgmlType::F16: return GgmlType::F16;
    case GgmlType::BF16: return GgmlType::BF16;
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q8_0: case GgmlType::IQ4_NL: case GgmlType::MXFP4:
      return GgmlType::Q8_0;  // Q8_1 for Q4_1/Q5_1 holds the same rounded values plus their sum
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K:
    case GgmlType::Q6_K: case GgmlType::IQ4_XS:
      return GgmlType::Q8_K;
    default:
      return GgmlType::F32;
  }
}

// x rounded through `type` (quantize then dequantize, row by row) into `out`; false if a row
// cannot be converted (then the caller uses x as it is).
bool round_activations(GgmlType type, const float* x, int64_t n_tokens, int64_t cols, float* out) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  uint64_t row_bytes = 0;
  if (info == nullptr || cols % info->block_size != 0 || !ggml_row_bytes(*info, static_cast<uint64_t>(cols), &row_bytes)) {
    return false;
  }
  std::vector<uint8_t> packed(row_bytes);
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (!quantize_row(type, x + t * cols, packed.data(), cols).ok()) return false;
    if (!dequantize_row(type, packed.data(), out + t * cols, cols).ok()) return false;
  }
  return true;
}

namespace {

// The integer kernel for a weight type and the activation format it takes, if there is one.
struct QuantDot {
  QuantDotFn fn = nullptr;
  GgmlType act_type = GgmlType::F32;
  void (*quantize_row)(const float* x, void* y, int64_t n, const CpuKernels& k) = nullptr;
};

void quantize_q8_0(const float* x, void* y, int64_t n, const CpuKernels& k) {
  k.quantize_row_q8_0(x, static_cast<BlockQ8_0*>(y), n);
}
void quantize_q8_K(const float* x, void* y, int64_t n, const CpuKernels& k) {
  k.quantize_row_q8_K(x, static_cast<BlockQ8_K*>(y), n);
}

QuantDot find_quant_dot(const CpuKernels& k, GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return {k.dot_q4_0, GgmlType::Q8_0, quantize_q8_0};
    case GgmlType::Q8_0: return {k.dot_q8_0, GgmlType::Q8_0, quantize_q8_0};
    case GgmlType::Q4_K: return {k.dot_q4_K, GgmlType::Q8_K, quantize_q8_K};
    case GgmlType::Q5_K: return {k.dot_q5_K, GgmlType::Q8_K, quantize_q8_K};
    case GgmlType::Q6_K: return {k.dot_q6_K, GgmlType::Q8_K, quantize_q8_K};
    default: return {};
  }
}

// Weight rows per integer task: a decode matvec wants many small tasks (all threads busy, the
// weights streamed once); a prefill block of 16 rows x 64 tokens keeps both operands in cache.
int64_t quant_rows_per_block(int64_t n_tokens) { return n_tokens == 1 ? 8 : 16; }

// x quantized row by row to qd's activation type, in the shared scratch; the row stride in bytes.
const uint8_t* quantize_activations(OpContext& ctx, const QuantDot& qd, const float* x, int64_t n_tokens, int64_t cols,
                                    uint64_t* act_row_bytes) {
  const CpuKernels& k = ctx.kernels;
  ggml_row_bytes(*ggml_type_info(static_cast<uint32_t>(qd.act_type)), static_cast<uint64_t>(cols), act_row_bytes);
  const uint64_t stride = *act_row_bytes;
  // Q8_0 rows are a multiple of 34 bytes and Q8_K rows of 292: float-aligned rows stay aligned.
  auto* act = reinterpret_cast<uint8_t*>(ctx.scratch.shared_buffer((static_cast<size_t>(n_tokens) * stride + 3) / 4));
  ctx.pool.parallel_for(n_tokens, grain_for(ctx.pool, n_tokens, cols), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) qd.quantize_row(x + t * cols, act + t * stride, cols, k);
  });
  return act;
}

// One call of the repacked kernel of w's type: n_groups groups of 8 rows from `groups` on.
void dot_repacked(const CpuKernels& k, GgmlType type, const uint8_t* groups, int n_groups, const BlockQ8_K* a, int64_t cols,
                  int n_act, float* out) {
  if (type == GgmlType::Q4_K) {
    k.dot_q4_K_x8(reinterpret_cast<const BlockQ4_Kx8*>(groups), n_groups, a, cols, n_act, out);
  } else {
    k.dot_q6_K_x8(reinterpret_cast<const BlockQ6_Kx8*>(groups), n_groups, a, cols, n_act, out);
  }
}

// Products with at least this many tokens on Q4_K matrices that were not repacked at load (MoE
// experts of a model too big to repack them, engine/model.cpp) repack each task's 16 rows into the
// thread's buffer first (CpuKernels::repack_q4_K_x8) and use the repacked kernel: the repack
// costs about one token's products, and with this many tokens the faster kernel more than pays
// for it (docs/PERFORMANCE.md#single-kernels). Q6_K's repack is too slow for this.
constexpr int64_t kRepackInTaskMinTokens = 8;

// The integer tasks of one product: (block of weight rows, block of up to kTokensPerBlock tokens).
struct QuantTasks {
  int64_t rb_rows, n_rb, n_tb;
  bool repack;  // each task repacks its rows into the thread's buffer (else they are used as they are: repacked at load or not)
  QuantTasks(const WeightView& w, int64_t n_tokens)
      : rb_rows(quant_rows_per_block(n_tokens)),
        n_rb((w.rows() + rb_rows - 1) / rb_rows),
        n_tb((n_tokens + kTokensPerBlock - 1) / kTokensPerBlock),
        repack(w.repacked == nullptr && n_tokens >= kRepackInTaskMinTokens && w.type == GgmlType::Q4_K && repackable(w)) {}
  int64_t count() const { return n_rb * n_tb; }
  // Floats of thread buffer a task needs (its rows repacked).
  size_t buffer_floats(const WeightView& w) const {
    return repack ? static_cast<size_t>(rb_rows / 8 * w.cols() / QK_K) * sizeof(BlockQ4_Kx8) / sizeof(float) : 0;
  }
};

// Task `task` of y = W x for activations already quantized (act, act_row_bytes apart); buffer:
// tasks.buffer_floats(w) floats of the thread's own.
void run_quant_task(const CpuKernels& k, const WeightView& w, const QuantDot& qd, const QuantTasks& tasks, const uint8_t* act,
                    uint64_t act_row_bytes, int64_t n_tokens, int64_t task, float* buffer, float* y) {
  const int64_t cols = w.cols();
  const int64_t rows = w.rows();
  float out[16 * kMaxDotActs];
  const int64_t r0 = (task / tasks.n_tb) * tasks.rb_rows;
  const int64_t r1 = std::min(rows, r0 + tasks.rb_rows);
  const int64_t t0 = (task % tasks.n_tb) * kTokensPerBlock;
  const int64_t t1 = std::min(n_tokens, t0 + kTokensPerBlock);
  if (tasks.repack || w.repacked != nullptr) {
    const uint64_t group_bytes = static_cast<uint64_t>(cols / QK_K) * repack_format(w.type).block_bytes;
    const int n_groups = static_cast<int>((r1 - r0) / 8);
    const uint8_t* groups = tasks.repack ? reinterpret_cast<uint8_t*>(buffer) : w.repacked + static_cast<uint64_t>(r0 / 8) * group_bytes;
    for (int gi = 0; tasks.repack && gi < n_groups; ++gi) {
      const uint8_t* src = w.data + static_cast<uint64_t>(r0 + 8 * gi) * w.row_bytes;
      k.repack_q4_K_x8(src, w.row_bytes, cols, reinterpret_cast<BlockQ4_Kx8*>(buffer) + gi * (cols / QK_K));
    }
    for (int64_t t = t0; t < t1; t += kMaxDotActs) {
      const int n_act = static_cast<int>(std::min<int64_t>(kMaxDotActs, t1 - t));
      dot_repacked(k, w.type, groups, n_groups, reinterpret_cast<const BlockQ8_K*>(act + static_cast<uint64_t>(t) * act_row_bytes),
                   cols, n_act, out);
      for (int j = 0; j < n_act; ++j) std::memcpy(y + (t + j) * rows + r0, out + 8 * n_groups * j, 8 * n_groups * sizeof(float));
    }
    return;
  }
  for (int64_t t = t0; t < t1; t += kMaxDotActs) {
    const int n_act = static_cast<int>(std::min<int64_t>(kMaxDotActs, t1 - t));
    const uint8_t* a = act + static_cast<uint64_t>(t) * act_row_bytes;
    for (int64_t r = r0; r < r1; ++r) {
      if (n_tokens == 1 && r + 2 < rows) {  // decode streams the rows from memory once: fetch two rows ahead into L1
        const uint8_t* ahead = w.data + static_cast<uint64_t>(r + 2) * w.row_bytes;
        for (uint64_t off = 0; off < w.row_bytes; off += 64) __builtin_prefetch(ahead + off, 0, 3);
      }
      qd.fn(w.data + static_cast<uint64_t>(r) * w.row_bytes, a, cols, n_act, out);
      for (int j = 0; j < n_act; ++j) y[(t + j) * rows + r] = out[j];
    }
  }
}

void matmul_quantized(OpContext& ctx, const WeightView& w, const QuantDot& qd, const float* x, int64_t n_tokens,
                      float* y) {
  const int64_t cols = w.cols();
  uint64_t act_row_bytes = 0;
  const uint8_t* act = quantize_activations(ctx, qd, x, n_tokens, cols, &act_row_bytes);
  const QuantTasks tasks(w, n_tokens);
  const int64_t work = tasks.rb_rows * cols * std::min(n_tokens, kTokensPerBlock);
  ctx.pool.parallel_for(tasks.count(), grain_for(ctx.pool, tasks.count(), work), [&](int64_t begin, int64_t end, int tid) {
    float* buffer = tasks.repack ? ctx.scratch.thread_buffer(tid, tasks.buffer_floats(w)) : nullptr;
    for (int64_t task = begin; task < end; ++task) run_quant_task(ctx.kernels, w, qd, tasks, act, act_row_bytes, n_tokens, task, buffer, y);
  });
}

// Whether the backend keeps w's rows repacked (op_repack_weight).
bool is_repacked(const WeightView& w) {
  return w.repacked != nullptr && (w.type == GgmlType::Q4_K || w.type == GgmlType::Q6_K);
}

// Whether matmul multiplies w with the integer kernel of qd in place (not repacked, aligned rows).
bool integer_in_place(const WeightView& w, const QuantDot& qd) {
  return w.repacked == nullptr && qd.fn != nullptr && reinterpret_cast<uintptr_t>(w.data) % 2 == 0 &&
         w.row_bytes % 2 == 0;
}

}  // namespace

bool matmul_is_integer(const CpuKernels& kernels, GgmlType weight) { return find_quant_dot(kernels, weight).fn != nullptr; }

void op_matmul(OpContext& ctx, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t cols = w.cols();
  const int64_t rows = w.rows();
  if (n_tokens <= 0 || rows <= 0) return;
  if (!valid_weight(w)) {
    fill_nan(y, n_tokens * rows);
    return;
  }
  const QuantDot qd = find_quant_dot(ctx.kernels, w.type);
  // Packed rows are read in place (the kernels need the row to start on its block alignment), or
  // in the backend's repacked layout.
  if (is_repacked(w) || integer_in_place(w, qd)) {
    matmul_quantized(ctx, w, qd, x, n_tokens, y);
    return;
  }
  const int64_t rb_rows = rows_per_block(cols, n_tokens);
  const int64_t n_rb = (rows + rb_rows - 1) / rb_rows;
  const int64_t n_tb = (n_tokens + kTokensPerBlock - 1) / kTokensPerBlock;
  const bool direct = w.type == GgmlType::F32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0 &&
                      w.row_bytes % sizeof(float) == 0;
  const CpuKernels& k = ctx.kernels;
  Scratch& scratch = ctx.scratch;
  const GgmlType act_type = matmul_activation_type(w.type);
  if (act_type != GgmlType::F32) {
    float* rounded = scratch.shared_buffer(static_cast<size_t>(n_tokens * cols));
    if (round_activations(act_type, x, n_tokens, cols, rounded)) x = rounded;
  }

  const int64_t work = rb_rows * cols * std::min(n_tokens, kTokensPerBlock);
  ctx.pool.parallel_for(n_rb * n_tb, grain_for(ctx.pool, n_rb * n_tb, work), [&](int64_t begin, int64_t end, int tid) {
    float* buf = direct ? nullptr : scratch.thread_buffer(tid, static_cast<size_t>(rb_rows * cols));
    int64_t loaded_rb = -1;
    const float* row_ptr[16];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t rb = task / n_tb;
      const int64_t tb = task % n_tb;
      const int64_t r0 = rb * rb_rows;
      const int64_t nr = std::min(rb_rows, rows - r0);
      if (rb != loaded_rb) {
        for (int64_t i = 0; i < nr; ++i) {
          const uint8_t* src = w.data + static_cast<uint64_t>(r0 + i) * w.row_bytes;
          if (direct) {
            row_ptr[i] = reinterpret_cast<const float*>(src);
          } else {
            float* dst = buf + i * cols;
            if (!dequantize_weight_row(k, w.type, src, dst, cols)) fill_nan(dst, cols);  // unreachable after valid_weight
            row_ptr[i] = dst;
          }
        }
        loaded_rb = rb;
      }
      const int64_t t0 = tb * kTokensPerBlock;
      const int64_t t1 = std::min(n_tokens, t0 + kTokensPerBlock);
      for (int64_t t = t0; t < t1; ++t) {
        const float* xt = x + t * cols;
        float* yt = y + t * rows + r0;
        for (int64_t i = 0; i < nr; ++i) yt[i] = k.dot_f32(row_ptr[i], xt, cols);
      }
    }
  });
}

// All groups' activations are quantized in one pass, then one parallel_for runs every group's
// tasks (the same tasks, on the same data, as one op_matmul per group: the same results). Weights
// the integer kernels do not take in place go group by group through op_matmul.
void op_matmul_grouped(OpContext& ctx, const WeightView& w, const int32_t* experts, const int64_t* offsets,
                       int64_t n_groups, const float* x, float* y) {
  const int64_t cols = w.cols();
  const int64_t rows = w.rows();
  if (n_groups <= 0 || rows <= 0) return;
  const int64_t total = offsets[n_groups];
  if (total <= 0) return;
  bool valid = valid_weight(w) && offsets[0] == 0;
  for (int64_t g = 0; g < n_groups && valid; ++g) {
    valid = experts[g] >= 0 && experts[g] < w.ne[2] && offsets[g + 1] >= offsets[g];
  }
  if (!valid) {
    fill_nan(y, total * rows);
    return;
  }
  const QuantDot qd = find_quant_dot(ctx.kernels, w.type);
  // Repacked experts (op_repack_weight) take the same tasks, reading their repacked rows.
  if (!is_repacked(w) && !integer_in_place(w, qd)) {
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t m = offsets[g + 1] - offsets[g];
      if (m > 0) op_matmul(ctx, w.slab(experts[g]), x + offsets[g] * cols, m, y + offsets[g] * rows);
    }
    return;
  }
  uint64_t act_row_bytes = 0;
  const uint8_t* act = quantize_activations(ctx, qd, x, total, cols, &act_row_bytes);
  std::vector<QuantTasks> tasks;
  std::vector<int64_t> first_task(static_cast<size_t>(n_groups) + 1, 0);  // group g owns [first_task[g], first_task[g + 1])
  tasks.reserve(static_cast<size_t>(n_groups));
  for (int64_t g = 0; g < n_groups; ++g) {
    tasks.emplace_back(w, offsets[g + 1] - offsets[g]);
    first_task[static_cast<size_t>(g) + 1] = first_task[static_cast<size_t>(g)] + tasks.back().count();
  }
  const int64_t n_tasks = first_task.back();
  const int64_t work = quant_rows_per_block(total / n_groups) * cols * std::min(total / n_groups + 1, kTokensPerBlock);
  size_t buffer_floats = 0;
  for (const QuantTasks& t : tasks) buffer_floats = std::max(buffer_floats, t.buffer_floats(w));
  ctx.pool.parallel_for(n_tasks, grain_for(ctx.pool, n_tasks, work), [&](int64_t begin, int64_t end, int tid) {
    float* buffer = buffer_floats > 0 ? ctx.scratch.thread_buffer(tid, buffer_floats) : nullptr;
    for (int64_t task = begin; task < end; ++task) {
      const auto g = static_cast<int64_t>(std::upper_bound(first_task.begin(), first_task.end(), task) - first_task.begin()) - 1;
      const int64_t m = offsets[g + 1] - offsets[g];
      run_quant_task(ctx.kernels, w.slab(experts[g]), qd, tasks[static_cast<size_t>(g)],
                     act + static_cast<uint64_t>(offsets[g]) * act_row_bytes, act_row_bytes, m,
                     task - first_task[static_cast<size_t>(g)], buffer, y + offsets[g] * rows);
    }
  });
}

}  // namespace petrel::cpu
