#include "backend/vulkan/ops_matmul.h"

#include <algorithm>
#include <string>
#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kMatVecWorkgroup = 64;
constexpr uint64_t kQ4KBlockBytes = 144;

}  // namespace

Status mat_vec(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y) {
  if (type != GgmlType::Q4_K) {
    const GgmlTypeInfo* t = ggml_type_info(static_cast<uint32_t>(type));
    return Status(StatusCode::unsupported,
                  std::string("vulkan: no matrix-vector shader for ") + (t != nullptr ? t->name : "this type") + " yet");
  }
  if (rows <= 0 || cols <= 0 || cols % 256 != 0) return bad_op("mat_vec: Q4_K rows must be a multiple of 256 values");
  if (n_tokens < 1 || n_tokens > kMatVecMaxTokens) {
    return bad_op("mat_vec takes 1.." + std::to_string(kMatVecMaxTokens) + " tokens");
  }
  const uint64_t row_bytes = static_cast<uint64_t>(cols) / 256 * kQ4KBlockBytes;
  if (w.bytes < row_bytes * static_cast<uint64_t>(rows) ||
      x.bytes < static_cast<uint64_t>(cols) * 4 * static_cast<uint64_t>(n_tokens) ||
      y.bytes < static_cast<uint64_t>(rows) * 4 * static_cast<uint64_t>(n_tokens)) {
    return bad_op("mat_vec operands smaller than their shape");
  }
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("mul_mat_vec_q4_K", kMatVecWorkgroup, &p));
  // Rows per dispatch: as many as one binding holds, leaving room for the alignment remainder.
  const uint64_t align = std::max<uint64_t>(ops.context().info().min_storage_buffer_offset_alignment, 4);
  if (ops.max_binding_bytes() <= align + row_bytes) return bad_op("mat_vec: one weight row is larger than a binding");
  const uint64_t rows_per_bind = (ops.max_binding_bytes() - align) / row_bytes;
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, x_offset, x_stride, y_offset, y_stride;
  } push{static_cast<uint32_t>(cols), 0, static_cast<uint32_t>(n_tokens), 0, 0, static_cast<uint32_t>(cols), 0,
         static_cast<uint32_t>(rows)};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[1], &push.x_offset));
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &y_base));
  for (uint64_t r0 = 0; r0 < static_cast<uint64_t>(rows); r0 += rows_per_bind) {
    const uint64_t n = std::min<uint64_t>(rows_per_bind, static_cast<uint64_t>(rows) - r0);
    PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{w.buffer, w.offset + r0 * row_bytes, n * row_bytes}, &b[0], &push.w_offset));
    push.n_rows = static_cast<uint32_t>(n);
    push.y_offset = y_base + static_cast<uint32_t>(r0);
    uint32_t groups[3];
    ops.grid(n, groups);
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
