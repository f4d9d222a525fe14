#include "backend/vulkan/vk_ops.h"

#include <algorithm>
#include <string>

namespace petrel::vk {
namespace {

constexpr uint32_t kNormWorkgroup = 128;
constexpr uint32_t kElementwiseWorkgroup = 256;
constexpr uint32_t kMatVecWorkgroup = 64;
constexpr uint64_t kQ4KBlockBytes = 144;

Status bad(const std::string& what) { return Status(StatusCode::invalid_argument, "vulkan: " + what); }

// Workgroups for `n` items of `per_group` each: x up to the limit, the rest in y.
void grid(uint64_t groups, const DeviceInfo& info, uint32_t out[3]) {
  const uint64_t max_x = info.max_workgroup_count[0];
  out[0] = static_cast<uint32_t>(std::min<uint64_t>(groups, max_x));
  out[1] = static_cast<uint32_t>((groups + max_x - 1) / max_x);
  out[2] = 1;
}

}  // namespace

Status VulkanOps::create(VulkanContext& ctx, std::unique_ptr<VulkanOps>* out) {
  std::unique_ptr<VulkanOps> ops(new VulkanOps(ctx));
  ops->max_binding_bytes_ = std::min<uint64_t>(ctx.info().max_storage_buffer_range, UINT32_MAX);
  PETREL_RETURN_IF_ERROR(PipelineCache::create(ctx, &ops->pipelines_));
  *out = std::move(ops);
  return Status::ok_status();
}

Status VulkanOps::bind(DeviceSpan span, Binding* out, uint32_t* word_offset) const {
  const DeviceInfo& info = ctx_.info();
  if (span.buffer == nullptr || span.bytes == 0 || span.offset % 4 != 0 || span.offset > span.buffer->size() ||
      span.bytes > span.buffer->size() - span.offset) {
    return bad("an operand span is empty, not 4-byte aligned or outside its buffer");
  }
  const uint64_t align = std::max<uint64_t>(info.min_storage_buffer_offset_alignment, 4);
  const uint64_t start = span.offset / align * align;
  const uint64_t range = span.offset + span.bytes - start;
  if (range > max_binding_bytes_) {
    return bad("an operand of " + std::to_string(span.bytes) + " bytes is larger than one binding may be (" +
               std::to_string(max_binding_bytes_) + ")");
  }
  *out = Binding{span.buffer, start, range};
  *word_offset = static_cast<uint32_t>((span.offset - start) / 4);
  return Status::ok_status();
}

Status VulkanOps::rms_norm(Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows, int64_t n_cols,
                           float eps) {
  if (n_rows <= 0 || n_cols <= 0) return bad("rms_norm of an empty shape");
  const uint64_t row_bytes = static_cast<uint64_t>(n_cols) * 4;
  if (x.bytes < row_bytes * static_cast<uint64_t>(n_rows) || y.bytes < row_bytes * static_cast<uint64_t>(n_rows) ||
      w.bytes < row_bytes) {
    return bad("rms_norm operands smaller than their shape");
  }
  if (static_cast<uint64_t>(n_rows) > ctx_.info().max_workgroup_count[0]) return bad("rms_norm of too many rows");
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, x_offset, x_stride, w_offset, y_offset, y_stride;
    float eps;
  } push{static_cast<uint32_t>(n_cols), 0, static_cast<uint32_t>(n_cols), 0, 0, static_cast<uint32_t>(n_cols), eps};
  PETREL_RETURN_IF_ERROR(bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(bind(w, &b[1], &push.w_offset));
  PETREL_RETURN_IF_ERROR(bind(y, &b[2], &push.y_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(pipelines_->get("rms_norm", kNormWorkgroup, {}, &p));
  const uint32_t groups[3] = {static_cast<uint32_t>(n_rows), 1, 1};
  rec.dispatch(*pipelines_, *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

Status VulkanOps::elementwise(Recording& rec, const char* shader, const void* push, uint32_t push_bytes, int64_t n,
                              const std::vector<Binding>& bindings) {
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(pipelines_->get(shader, kElementwiseWorkgroup, {}, &p));
  uint32_t groups[3];
  grid((static_cast<uint64_t>(n) + kElementwiseWorkgroup - 1) / kElementwiseWorkgroup, ctx_.info(), groups);
  rec.dispatch(*pipelines_, *p, bindings, push, push_bytes, groups);
  return Status::ok_status();
}

Status VulkanOps::gate_mul(Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y,
                           int64_t n) {
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (n <= 0 || gate.bytes < bytes || x.bytes < bytes || y.bytes < bytes) return bad("gate_mul operands too small");
  std::vector<Binding> b(3);
  struct {
    uint32_t n, gate_offset, x_offset, y_offset, mode;
  } push{static_cast<uint32_t>(n), 0, 0, 0, act == GateActivation::silu ? 0u : 1u};
  PETREL_RETURN_IF_ERROR(bind(gate, &b[0], &push.gate_offset));
  PETREL_RETURN_IF_ERROR(bind(x, &b[1], &push.x_offset));
  PETREL_RETURN_IF_ERROR(bind(y, &b[2], &push.y_offset));
  return elementwise(rec, "gate_mul", &push, sizeof(push), n, b);
}

Status VulkanOps::add(Recording& rec, DeviceSpan a, DeviceSpan b_span, DeviceSpan y, int64_t n) {
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (n <= 0 || a.bytes < bytes || b_span.bytes < bytes || y.bytes < bytes) return bad("add operands too small");
  std::vector<Binding> b(3);
  struct {
    uint32_t n, a_offset, b_offset, y_offset;
  } push{static_cast<uint32_t>(n), 0, 0, 0};
  PETREL_RETURN_IF_ERROR(bind(a, &b[0], &push.a_offset));
  PETREL_RETURN_IF_ERROR(bind(b_span, &b[1], &push.b_offset));
  PETREL_RETURN_IF_ERROR(bind(y, &b[2], &push.y_offset));
  return elementwise(rec, "add", &push, sizeof(push), n, b);
}

Status VulkanOps::mat_vec(Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
                          int64_t n_tokens, DeviceSpan y) {
  if (type != GgmlType::Q4_K) {
    const GgmlTypeInfo* t = ggml_type_info(static_cast<uint32_t>(type));
    return Status(StatusCode::unsupported,
                  std::string("vulkan: no matrix-vector shader for ") + (t != nullptr ? t->name : "this type") + " yet");
  }
  if (rows <= 0 || cols <= 0 || cols % 256 != 0) return bad("mat_vec: Q4_K rows must be a multiple of 256 values");
  if (n_tokens < 1 || n_tokens > kMatVecMaxTokens) return bad("mat_vec takes 1.." + std::to_string(kMatVecMaxTokens) + " tokens");
  const uint64_t row_bytes = static_cast<uint64_t>(cols) / 256 * kQ4KBlockBytes;
  if (w.bytes < row_bytes * static_cast<uint64_t>(rows) ||
      x.bytes < static_cast<uint64_t>(cols) * 4 * static_cast<uint64_t>(n_tokens) ||
      y.bytes < static_cast<uint64_t>(rows) * 4 * static_cast<uint64_t>(n_tokens)) {
    return bad("mat_vec operands smaller than their shape");
  }
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(pipelines_->get("mul_mat_vec_q4_K", kMatVecWorkgroup, {}, &p));
  // Rows per dispatch: as many as one binding holds, leaving room for the alignment remainder.
  const DeviceInfo& info = ctx_.info();
  const uint64_t align = std::max<uint64_t>(info.min_storage_buffer_offset_alignment, 4);
  const uint64_t rows_per_bind = (max_binding_bytes_ - align) / row_bytes;
  if (rows_per_bind == 0) return bad("mat_vec: one weight row is larger than a binding may be");
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, x_offset, x_stride, y_offset, y_stride;
  } push{static_cast<uint32_t>(cols), 0, static_cast<uint32_t>(n_tokens), 0, 0, static_cast<uint32_t>(cols), 0,
         static_cast<uint32_t>(rows)};
  PETREL_RETURN_IF_ERROR(bind(x, &b[1], &push.x_offset));
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(bind(y, &b[2], &y_base));
  for (uint64_t r0 = 0; r0 < static_cast<uint64_t>(rows); r0 += rows_per_bind) {
    const uint64_t n = std::min<uint64_t>(rows_per_bind, static_cast<uint64_t>(rows) - r0);
    PETREL_RETURN_IF_ERROR(bind(DeviceSpan{w.buffer, w.offset + r0 * row_bytes, n * row_bytes}, &b[0], &push.w_offset));
    push.n_rows = static_cast<uint32_t>(n);
    push.y_offset = y_base + static_cast<uint32_t>(r0);
    uint32_t groups[3];
    grid(n, info, groups);
    rec.dispatch(*pipelines_, *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
