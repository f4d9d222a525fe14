#include "backend/vulkan/ops_matmul_int8.h"

#include <algorithm>
#include <string>
#include <vector>

#include "backend/vulkan/ops_matmul.h"

namespace petrel::vk {
namespace {

constexpr uint32_t kWorkgroup = 64;
constexpr uint64_t kBlock = 32;  // values per q8_1 block and per weight unit

struct Int8Type {
  GgmlType type;
  const char* shader;
  uint32_t block_values, block_bytes;
};

constexpr Int8Type kInt8Types[] = {
    {GgmlType::Q4_0, "mul_mat_vec_int8_q4_0", 32, 18},
    {GgmlType::Q8_0, "mul_mat_vec_int8_q8_0", 32, 34},
    {GgmlType::Q4_K, "mul_mat_vec_int8_q4_K", 256, 144},
    {GgmlType::Q6_K, "mul_mat_vec_int8_q6_K", 256, 210},
};

const Int8Type* int8_type(GgmlType type) {
  for (const Int8Type& t : kInt8Types) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

// As ops_matmul.cpp's threads_per_row: a power of two up to the workgroup, at least two units each.
uint32_t threads_per_row(uint64_t units) {
  uint32_t t = 1;
  while (t * 2 <= kWorkgroup && t * 4 <= units) t *= 2;
  return t;
}

}  // namespace

bool mat_vec_int8_supports(const VulkanContext& ctx, GgmlType type) {
  return ctx.info().integer_dot_product && int8_type(type) != nullptr;
}

uint64_t q8_1_bytes(int64_t cols, int64_t n_tokens) {
  if (cols <= 0 || n_tokens <= 0) return 0;
  return static_cast<uint64_t>(cols) / kBlock * static_cast<uint64_t>(n_tokens) * 40;
}

Status quantize_q8_1(VulkanOps& ops, Recording& rec, DeviceSpan x, int64_t cols, int64_t n_tokens, DeviceSpan q) {
  if (cols <= 0 || cols % kBlock != 0 || n_tokens <= 0 || cols > UINT32_MAX / 4 || n_tokens > UINT32_MAX) {
    return bad_op("quantize_q8_1: rows must be a positive number of 32-value blocks");
  }
  const uint64_t blocks = static_cast<uint64_t>(cols) / kBlock * static_cast<uint64_t>(n_tokens);
  if (blocks > UINT32_MAX / 8) return bad_op("quantize_q8_1: too many blocks");
  if (x.bytes / 4 / static_cast<uint64_t>(cols) < static_cast<uint64_t>(n_tokens) ||
      q.bytes < q8_1_bytes(cols, n_tokens)) {
    return bad_op("quantize_q8_1 operands smaller than their shape");
  }
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("quantize_q8_1", kWorkgroup, &p));
  std::vector<Binding> b(2);
  struct {
    uint32_t n_blocks, n_tokens, x_offset, x_stride, q_offset, ds_offset;
  } push{static_cast<uint32_t>(cols / kBlock), static_cast<uint32_t>(n_tokens), 0, static_cast<uint32_t>(cols), 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{q.buffer, q.offset, q8_1_bytes(cols, n_tokens)}, &b[1], &push.q_offset));
  push.ds_offset = push.q_offset + static_cast<uint32_t>(blocks * 8);
  uint32_t groups[3];
  ops.grid((blocks + kWorkgroup - 1) / kWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

namespace {

// The checks of mat_vec_int8_q8_1, made before mat_vec_int8 appends anything.
Status check_product(const VulkanOps& ops, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan q,
                     int64_t n_tokens, DeviceSpan y, const Int8Type** out) {
  const Int8Type* t = int8_type(type);
  if (t == nullptr) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
    return Status(StatusCode::unsupported,
                  std::string("vulkan: no int8 mat_vec shader for ") + (info != nullptr ? info->name : "this type"));
  }
  if (!ops.context().info().integer_dot_product) {
    return Status(StatusCode::unsupported, "vulkan: the device has no integer dot products (or they are turned off)");
  }
  if (rows <= 0 || cols <= 0 || cols % t->block_values != 0 || rows > UINT32_MAX || cols > UINT32_MAX / 4) {
    return bad_op("mat_vec_int8: rows must be a positive number of " + std::to_string(t->block_values) +
                  "-value blocks");
  }
  if (n_tokens < 1 || n_tokens > kMatVecMaxTokens) {
    return bad_op("mat_vec_int8 takes 1.." + std::to_string(kMatVecMaxTokens) + " tokens");
  }
  const uint64_t nr = static_cast<uint64_t>(rows), nt = static_cast<uint64_t>(n_tokens);
  const uint64_t row_bytes = static_cast<uint64_t>(cols) / t->block_values * t->block_bytes;
  if (w.buffer == nullptr || w.bytes / row_bytes < nr || q.bytes < q8_1_bytes(cols, n_tokens) ||
      y.bytes / 4 / nr < nt) {
    return bad_op("mat_vec_int8 operands smaller than their shape");
  }
  *out = t;
  return Status::ok_status();
}

}  // namespace

Status mat_vec_int8_q8_1(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                         DeviceSpan q, int64_t n_tokens, DeviceSpan y) {
  const Int8Type* t = nullptr;
  PETREL_RETURN_IF_ERROR(check_product(ops, type, w, rows, cols, q, n_tokens, y, &t));
  const uint64_t nr = static_cast<uint64_t>(rows), nc = static_cast<uint64_t>(cols);
  const uint64_t nt = static_cast<uint64_t>(n_tokens);
  const uint64_t row_bytes = nc / t->block_values * t->block_bytes;
  const uint64_t units = nc / kBlock;
  const uint32_t tpr = threads_per_row(units);
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(t->shader, kWorkgroup, &p, {tpr}));

  // Weight rows per binding, with room for the alignment below the first row's word and the word
  // the last row ends in (rows of 18-, 34- and 210-byte blocks need not start on a word).
  const uint64_t align = std::max<uint64_t>(ops.context().info().min_storage_buffer_offset_alignment, 4);
  const uint64_t slack = align + 8;
  if (ops.max_binding_bytes() < slack + row_bytes) return bad_op("mat_vec_int8: one weight row is larger than a binding");
  const uint64_t rows_per_bind = (ops.max_binding_bytes() - slack) / row_bytes;

  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, row_bytes, q_offset, ds_offset, y_offset, y_stride;
  } push{static_cast<uint32_t>(nc), 0, static_cast<uint32_t>(nt), 0, static_cast<uint32_t>(row_bytes),
         0, 0, 0, static_cast<uint32_t>(nr)};
  PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{q.buffer, q.offset, q8_1_bytes(cols, n_tokens)}, &b[1], &push.q_offset));
  push.ds_offset = push.q_offset + static_cast<uint32_t>(units * nt * 8);
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &y_base));
  const uint32_t rows_per_group = kWorkgroup / tpr;
  for (uint64_t r0 = 0; r0 < nr; r0 += rows_per_bind) {
    const uint64_t n = std::min(rows_per_bind, nr - r0);
    // From the word at or below the range's first byte to the end of the word holding its last
    // byte, where the buffer has it (the shader reads whole words).
    const uint64_t first = w.offset + r0 * row_bytes;
    const uint64_t start = first / 4 * 4;
    const uint64_t end = std::min<uint64_t>((first + n * row_bytes + 3) / 4 * 4,
                                            std::max(w.buffer->size(), first + n * row_bytes));
    uint32_t words = 0;
    PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{w.buffer, start, end - start}, &b[0], &words));
    push.w_offset = words * 4 + static_cast<uint32_t>(first - start);
    push.n_rows = static_cast<uint32_t>(n);
    push.y_offset = y_base + static_cast<uint32_t>(r0);
    uint32_t groups[3];
    ops.grid((n + rows_per_group - 1) / rows_per_group, groups);
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

Status mat_vec_int8(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                    DeviceSpan x, int64_t n_tokens, DeviceSpan y, DeviceSpan scratch) {
  const Int8Type* t = nullptr;
  PETREL_RETURN_IF_ERROR(check_product(ops, type, w, rows, cols, scratch, n_tokens, y, &t));
  PETREL_RETURN_IF_ERROR(quantize_q8_1(ops, rec, x, cols, n_tokens, scratch));
  return mat_vec_int8_q8_1(ops, rec, type, w, rows, cols, scratch, n_tokens, y);
}

}  // namespace petrel::vk
