#include "backend/vulkan/ops_rope.h"

#include <cmath>
#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kRopeWorkgroup = 256;

}  // namespace

Status rope_neox(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan positions, int64_t n_tokens, int64_t n_heads,
                 int64_t head_dim, int64_t n_rot, float freq_base) {
  if (n_tokens <= 0 || n_heads <= 0 || head_dim <= 0) return bad_op("rope_neox of an empty shape");
  if (n_rot < 0 || n_rot % 2 != 0 || n_rot > head_dim) return bad_op("rope_neox: n_rot must be even and <= head_dim");
  if (n_rot == 0) return Status::ok_status();
  const uint64_t n_values = static_cast<uint64_t>(n_tokens) * static_cast<uint64_t>(n_heads) *
                            static_cast<uint64_t>(head_dim);
  if (n_values > UINT32_MAX) return bad_op("rope_neox of too many values");
  if (x.bytes < n_values * 4 || positions.bytes < static_cast<uint64_t>(n_tokens) * 4) {
    return bad_op("rope_neox operands smaller than their shape");
  }
  std::vector<Binding> b(2);
  struct {
    uint32_t n_tokens, n_heads, head_dim, half_rot, x_offset, pos_offset;
    float theta_scale;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(n_heads), static_cast<uint32_t>(head_dim),
         static_cast<uint32_t>(n_rot / 2), 0, 0,
         // The CPU backend's expression, so the angles start from the same float.
         std::pow(freq_base, -2.0f / static_cast<float>(n_rot))};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(positions, &b[1], &push.pos_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("rope_neox", kRopeWorkgroup, &p));
  const uint64_t pairs = static_cast<uint64_t>(n_tokens) * static_cast<uint64_t>(n_heads) * static_cast<uint64_t>(n_rot / 2);
  uint32_t groups[3];
  ops.grid((pairs + kRopeWorkgroup - 1) / kRopeWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

}  // namespace petrel::vk
