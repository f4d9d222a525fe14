#include "backend/vulkan/ops_routing.h"

#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kRouteWorkgroup = 256;
constexpr uint32_t kArgmaxWorkgroup = 256;

}  // namespace

Status moe_route(VulkanOps& ops, Recording& rec, DeviceSpan logits, int64_t n_tokens, int64_t n_expert, int64_t k,
                 DeviceSpan probs, DeviceSpan ids, DeviceSpan weights) {
  if (n_tokens <= 0 || n_expert <= 0 || k <= 0) return bad_op("moe_route of an empty shape");
  if (n_expert > kRouteMaxExperts || k > kRouteMaxUsed || k > n_expert) {
    return bad_op("moe_route: at most 1024 experts and 32 used, no more used than there are");
  }
  const uint64_t n = static_cast<uint64_t>(n_tokens);
  if (logits.bytes < n * static_cast<uint64_t>(n_expert) * 4 || ids.bytes < n * static_cast<uint64_t>(k) * 4 ||
      weights.bytes < n * static_cast<uint64_t>(k) * 4 ||
      (probs.bytes != 0 && probs.bytes < n * static_cast<uint64_t>(n_expert) * 4)) {
    return bad_op("moe_route operands smaller than their shape");
  }
  std::vector<Binding> b(4);
  const bool write_probs = probs.bytes != 0;
  struct {
    uint32_t n_tokens, n_expert, k, l_offset, i_offset, w_offset, p_offset, write_probs;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(n_expert), static_cast<uint32_t>(k), 0, 0, 0, 0,
         write_probs ? 1u : 0u};
  PETREL_RETURN_IF_ERROR(ops.bind(logits, &b[0], &push.l_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(ids, &b[1], &push.i_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(weights, &b[2], &push.w_offset));
  // Without probs the weights stand in for the binding, which the shader then never writes.
  PETREL_RETURN_IF_ERROR(ops.bind(write_probs ? probs : weights, &b[3], &push.p_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("moe_route", kRouteWorkgroup, &p));
  uint32_t groups[3];
  ops.grid(n, groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

Status argmax(VulkanOps& ops, Recording& rec, DeviceSpan logits, int64_t n_rows, int64_t n, DeviceSpan ids) {
  if (n_rows <= 0 || n <= 0) return bad_op("argmax of an empty shape");
  const uint64_t values = static_cast<uint64_t>(n_rows) * static_cast<uint64_t>(n);
  if (values > UINT32_MAX) return bad_op("argmax of too many values");
  if (logits.bytes < values * 4 || ids.bytes < static_cast<uint64_t>(n_rows) * 4) {
    return bad_op("argmax operands smaller than their shape");
  }
  std::vector<Binding> b(2);
  struct {
    uint32_t n_rows, n, l_offset, i_offset;
  } push{static_cast<uint32_t>(n_rows), static_cast<uint32_t>(n), 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(logits, &b[0], &push.l_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(ids, &b[1], &push.i_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("argmax", kArgmaxWorkgroup, &p));
  uint32_t groups[3];
  ops.grid(static_cast<uint64_t>(n_rows), groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  return Status::ok_status();
}

}  // namespace petrel::vk
