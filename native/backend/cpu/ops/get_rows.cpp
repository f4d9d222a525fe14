// get_rows: the token-embedding lookup. Each output row is the dequantized table row, converted
// straight into the output (no scratch); rows are independent, so tasks are rows.
#include <algorithm>

#include "backend/cpu/ops/ops.h"
#include "quant/convert.h"

namespace petrel::cpu {

void op_get_rows(OpContext& ctx, const WeightView& table, const int32_t* ids, int64_t n, float* out) {
  const int64_t cols = table.cols();
  const int64_t rows = table.rows();
  if (n <= 0 || cols <= 0) return;
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(table.type));
  const bool valid = info != nullptr && can_dequantize(table.type) && table.data != nullptr &&
                     cols % info->block_size == 0;
  const CpuKernels& k = ctx.kernels;
  ctx.pool.parallel_for(n, grain_for(ctx.pool, n, cols), [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      float* dst = out + i * cols;
      const int64_t id = ids[i];
      // Out-of-range ids are a caller bug (the tokenizer validates them): poison the row.
      if (!valid || id < 0 || id >= rows ||
          !dequantize_weight_row(k, table.type, table.data + static_cast<uint64_t>(id) * table.row_bytes, dst, cols)) {
        fill_nan(dst, cols);
      }
    }
  });
}

}  // namespace petrel::cpu
