#include "backend/vulkan/ops_moe.h"

#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kCombineWorkgroup = 256;

}  // namespace

Status moe_combine(VulkanOps& ops, Recording& rec, DeviceSpan down, DeviceSpan ids, DeviceSpan weights, int64_t n_tokens,
                   int64_t k, int64_t n_embd, DeviceSpan shared, DeviceSpan shared_gate, DeviceSpan out) {
  if (n_tokens <= 0 || k <= 0 || k > 32 || n_embd <= 0) return bad_op("moe_combine of an empty shape or over 32 slots");
  const uint64_t n = static_cast<uint64_t>(n_tokens), slots = n * static_cast<uint64_t>(k);
  const uint64_t width = static_cast<uint64_t>(n_embd);
  const bool has_shared = shared.bytes != 0;
  if (down.bytes / 4 < slots * width || ids.bytes / 4 < slots || weights.bytes / 4 < slots ||
      out.bytes / 4 < n * width || (has_shared && (shared.bytes / 4 < n * width || shared_gate.bytes / 4 < n))) {
    return bad_op("moe_combine operands smaller than their shape");
  }
  std::vector<Binding> b(6);
  struct {
    uint32_t n_tokens, k, n_embd, has_shared;
    uint32_t down_offset, ids_offset, w_offset, shared_offset, gate_offset, out_offset;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(k), static_cast<uint32_t>(n_embd), has_shared ? 1u : 0u,
         0, 0, 0, 0, 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(down, &b[0], &push.down_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(ids, &b[1], &push.ids_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(weights, &b[2], &push.w_offset));
  // Without a shared expert the weights stand in for its bindings, which the shader then never reads.
  PETREL_RETURN_IF_ERROR(ops.bind(has_shared ? shared : weights, &b[3], &push.shared_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(has_shared ? shared_gate : weights, &b[4], &push.gate_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(out, &b[5], &push.out_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("moe_combine", kCombineWorkgroup, &p));
  uint32_t groups[3];
  ops.grid((n * width + kCombineWorkgroup - 1) / kCombineWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

}  // namespace petrel::vk
