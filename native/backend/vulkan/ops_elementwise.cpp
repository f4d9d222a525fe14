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

// l's packed defaults filled in for n_rows rows of l->ne0 floats, the floats those rows span, and
// whether they are packed after all; false when they do not fit it (a row count not a multiple
// of ne1, a negative stride).
bool resolve(RowLayout* l, int64_t n_rows, uint64_t* floats, bool* packed) {
  if (l->ne0 <= 0 || l->ne1 <= 0 || n_rows % l->ne1 != 0) return false;
  const int64_t ne2 = n_rows / l->ne1;
  Strides3& s = l->strides;
  if (s.s1 == 0) s.s1 = l->ne0;
  if (s.s2 == 0) s.s2 = l->ne0 * l->ne1;
  if (s.s1 < 0 || s.s2 < 0) return false;
  *floats = static_cast<uint64_t>((l->ne1 - 1) * s.s1 + (ne2 - 1) * s.s2 + l->ne0);
  *packed = (l->ne1 == 1 || s.s1 == l->ne0) && (ne2 == 1 || s.s2 == l->ne0 * l->ne1);
  return true;
}

}  // namespace

Status rms_norm(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows,
                int64_t n_cols, float eps, RowLayout x_layout) {
  if (n_rows <= 0 || n_cols <= 0) return bad_op("rms_norm of an empty shape");
  if (x_layout.ne0 == 0) x_layout.ne0 = n_cols;
  uint64_t x_floats = 0;
  bool packed = true;
  if (x_layout.ne0 != n_cols || !resolve(&x_layout, n_rows, &x_floats, &packed)) {
    return bad_op("rms_norm: x's layout does not fit its rows");
  }
  const uint64_t row_bytes = static_cast<uint64_t>(n_cols) * 4;
  const bool scale_by_w = w.bytes > 0;
  if (x.bytes < x_floats * 4 || y.bytes < row_bytes * static_cast<uint64_t>(n_rows) ||
      (scale_by_w && w.bytes < row_bytes)) {
    return bad_op("rms_norm operands smaller than their shape");
  }
  if (x_floats > UINT32_MAX) return bad_op("rms_norm of too many values");
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, x_offset, x_ne1, x_s1, x_s2, w_offset, y_offset;
    float eps;
    uint32_t scale_by_w;
  } push{static_cast<uint32_t>(n_cols),
         static_cast<uint32_t>(n_rows),
         0,
         static_cast<uint32_t>(x_layout.ne1),
         static_cast<uint32_t>(x_layout.strides.s1),
         static_cast<uint32_t>(x_layout.strides.s2),
         0,
         0,
         eps,
         scale_by_w ? 1u : 0u};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  // Without a weight, x stands in for its binding, which the shader never reads.
  PETREL_RETURN_IF_ERROR(ops.bind(scale_by_w ? w : x, &b[1], &push.w_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &push.y_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("rms_norm", kNormWorkgroup, &p));
  uint32_t groups[3];
  ops.grid(static_cast<uint64_t>(n_rows), groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

Status gate_mul(VulkanOps& ops, Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y,
                int64_t n, RowLayout gate_layout) {
  if (n <= 0) return bad_op("gate_mul of an empty shape");
  if (gate_layout.ne0 == 0) gate_layout.ne0 = n;
  uint64_t gate_floats = 0;
  bool packed = true;
  if (n % gate_layout.ne0 != 0 || !resolve(&gate_layout, n / gate_layout.ne0, &gate_floats, &packed)) {
    return bad_op("gate_mul: the gate's layout does not fit n");
  }
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (gate.bytes < gate_floats * 4 || x.bytes < bytes || y.bytes < bytes) return bad_op("gate_mul operands too small");
  if (gate_floats > UINT32_MAX || bytes / 4 > UINT32_MAX) return bad_op("gate_mul of too many values");
  std::vector<Binding> b(3);
  struct {
    uint32_t n, gate_offset, x_offset, y_offset, mode;
    uint32_t strided, gate_ne0, gate_ne1, gate_s1, gate_s2;
  } push{static_cast<uint32_t>(n),
         0,
         0,
         0,
         act == GateActivation::silu ? 0u : 1u,
         packed ? 0u : 1u,
         static_cast<uint32_t>(gate_layout.ne0),
         static_cast<uint32_t>(gate_layout.ne1),
         static_cast<uint32_t>(gate_layout.strides.s1),
         static_cast<uint32_t>(gate_layout.strides.s2)};
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
