#include "backend/vulkan/ops_conv.h"

#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kConvWorkgroup = 256;
// Tokens per invocation: a decode step (and any batch up to this) runs as one dispatch that also
// updates the state; longer batches add a state dispatch after the conv.
constexpr int64_t kConvTokensPerInvocation = 16;

}  // namespace

Status conv1d_silu(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan weights, DeviceSpan state, int64_t n_tokens,
                   int64_t channels, int64_t kernel, DeviceSpan y) {
  if (n_tokens <= 0 || channels <= 0 || kernel <= 0) return bad_op("conv1d_silu of an empty shape");
  const uint64_t ch = static_cast<uint64_t>(channels);
  const uint64_t n_values = static_cast<uint64_t>(n_tokens + kernel) * ch;
  if (n_values > UINT32_MAX) return bad_op("conv1d_silu of too many values");
  if (x.bytes < static_cast<uint64_t>(n_tokens) * ch * 4 || y.bytes < static_cast<uint64_t>(n_tokens) * ch * 4 ||
      weights.bytes < static_cast<uint64_t>(kernel) * ch * 4 || state.bytes < static_cast<uint64_t>(kernel - 1) * ch * 4) {
    return bad_op("conv1d_silu operands smaller than their shape");
  }
  const int64_t n_blocks = (n_tokens + kConvTokensPerInvocation - 1) / kConvTokensPerInvocation;
  std::vector<Binding> b(4);
  struct {
    uint32_t n_tokens, channels, kernel, tokens_per_inv, n_blocks, x_offset, w_offset, s_offset, y_offset, mode;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(channels), static_cast<uint32_t>(kernel),
         static_cast<uint32_t>(kConvTokensPerInvocation), static_cast<uint32_t>(n_blocks), 0, 0, 0, 0,
         n_blocks == 1 ? 1u : 0u};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(weights, &b[1], &push.w_offset));
  // With kernel 1 there is no state; x stands in for its binding, which the shader never reads.
  PETREL_RETURN_IF_ERROR(ops.bind(kernel > 1 ? state : x, &b[2], &push.s_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[3], &push.y_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("conv1d_silu", kConvWorkgroup, &p));
  uint32_t groups[3];
  ops.grid((static_cast<uint64_t>(n_blocks) * ch + kConvWorkgroup - 1) / kConvWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  if (n_blocks > 1 && kernel > 1) {
    push.mode = 2;
    push.n_blocks = 1;
    ops.grid((ch + kConvWorkgroup - 1) / kConvWorkgroup, groups);
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
