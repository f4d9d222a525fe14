#include "backend/vulkan/ops_elementwise.h"

#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kNormWorkgroup = 128;
constexpr uint32_t kElementwiseWorkgroup = 256;

Status elementwise(VulkanOps& ops, Recording& rec, const char* shader, const void* push, uint32_t push_bytes,
                   int64_t n, const std::vector<Binding>& bindings) {
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(shader, kElementwiseWorkgroup, &p));
  uint32_t groups[3];
  ops.grid((static_cast<uint64_t>(n) + kElementwiseWorkgroup - 1) / kElementwiseWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, bindings, push, push_bytes, groups);
  return Status::ok_status();
}

}  // namespace

Status rms_norm(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows,
                int64_t n_cols, float eps) {
  if (n_rows <= 0 || n_cols <= 0) return bad_op("rms_norm of an empty shape");
  const uint64_t row_bytes = static_cast<uint64_t>(n_cols) * 4;
  if (x.bytes < row_bytes * static_cast<uint64_t>(n_rows) || y.bytes < row_bytes * static_cast<uint64_t>(n_rows) ||
      w.bytes < row_bytes) {
    return bad_op("rms_norm operands smaller than their shape");
  }
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, x_offset, x_stride, w_offset, y_offset, y_stride;
    float eps;
  } push{static_cast<uint32_t>(n_cols), static_cast<uint32_t>(n_rows), 0, static_cast<uint32_t>(n_cols), 0, 0,
         static_cast<uint32_t>(n_cols), eps};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(w, &b[1], &push.w_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &push.y_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("rms_norm", kNormWorkgroup, &p));
  uint32_t groups[3];
  ops.grid(static_cast<uint64_t>(n_rows), groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

Status gate_mul(VulkanOps& ops, Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y,
                int64_t n) {
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (n <= 0 || gate.bytes < bytes || x.bytes < bytes || y.bytes < bytes) return bad_op("gate_mul operands too small");
  std::vector<Binding> b(3);
  struct {
    uint32_t n, gate_offset, x_offset, y_offset, mode;
  } push{static_cast<uint32_t>(n), 0, 0, 0, act == GateActivation::silu ? 0u : 1u};
  PETREL_RETURN_IF_ERROR(ops.bind(gate, &b[0], &push.gate_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[1], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &push.y_offset));
  return elementwise(ops, rec, "gate_mul", &push, sizeof(push), n, b);
}

Status add(VulkanOps& ops, Recording& rec, DeviceSpan a, DeviceSpan b_span, DeviceSpan y, int64_t n) {
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (n <= 0 || a.bytes < bytes || b_span.bytes < bytes || y.bytes < bytes) return bad_op("add operands too small");
  std::vector<Binding> b(3);
  struct {
    uint32_t n, a_offset, b_offset, y_offset;
  } push{static_cast<uint32_t>(n), 0, 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(a, &b[0], &push.a_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(b_span, &b[1], &push.b_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &push.y_offset));
  return elementwise(ops, rec, "add", &push, sizeof(push), n, b);
}

}  // namespace petrel::vk
