// matmul (y[t][r] = sum_c W[r][c] x[t][c]) for every weight type quant/convert.h can
// dequantize, and the shared row dequantizer.
//
// Each task dequantizes a block of weight rows once into its thread's float buffer and dots
// every row with every token of a token block (float activations, cpu_kernels().dot_f32).
// Row blocks are sized to stay in L2 so each activation row, once loaded, is reused across the
// block's rows from L1. n_tokens == 1 is the same loop with one token: a matvec.
// Every output is one dot_f32 of the same two vectors whatever the threading, so results are
// bit-identical for any thread count.
#include <algorithm>
#include <cstring>

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
