// The DeltaNet gates: beta and the log decay g from the b and alpha projections.
#pragma once

#include <cstdint>

#include "backend/vulkan/ops_elementwise.h"
#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// As Backend::deltanet_gates (docs/MODEL.md#gates), per token t and value head p = i0 + ne0 * i1:
//   beta[t][p] = sigmoid(b),   g[t][p] = ssm_a[p] * softplus(alpha + dt_bias[p])
// with softplus(x) = x above 20. b and alpha are {ne0, ne1, n_tokens} read through their strides
// (qwen3next's views {r, Hk, n} of its [b (r) | alpha (r)] rows may share one buffer); ssm_a and
// dt_bias [ne0 * ne1]; beta and g packed [n_tokens][ne0 * ne1], overlapping no input.
Status deltanet_gates(VulkanOps& ops, Recording& rec, DeviceSpan b, Strides3 b_strides, DeviceSpan alpha,
                      Strides3 alpha_strides, int64_t ne0, int64_t ne1, int64_t n_tokens, DeviceSpan ssm_a,
                      DeviceSpan dt_bias, DeviceSpan beta, DeviceSpan g);

}  // namespace petrel::vk
