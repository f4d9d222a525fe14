// matmul (y[t][r] = sum_c W[r][c] x[t][c]) for every weight type quant/convert.h can
// dequantize, and the shared row dequantizer.
//
// A task is (block of weight rows, block of up to 64 tokens): it dequantizes its rows into the
// thread's float buffer and dots every row with every token of the block (float activations,
// cpu_kernels().dot_f32). So each row is dequantized once per call up to 64 tokens, and once per
// 64 tokens beyond (about 1/64 of the dot work), which lets long prompts spread over threads
// even for matrices with few rows. Row blocks stay in L2, so each activation row, once loaded,
// is reused across the block's rows from L1. n_tokens == 1 is the same loop: a matvec.
// Every output is one dot_f32 of the same two vectors whatever the threading, so results are
// bit-identical for any thread count.
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

void op_matmul(OpContext& ctx, const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t cols = w.cols();
  const int64_t rows = w.rows();
  if (n_tokens <= 0 || rows <= 0) return;
  if (!valid_weight(w)) {
    fill_nan(y, n_tokens * rows);
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

}  // namespace petrel::cpu
