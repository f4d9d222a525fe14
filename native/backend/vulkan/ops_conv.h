// The causal depthwise conv of the Gated DeltaNet layers.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// Causal depthwise conv (kernel taps) + SiLU over n_tokens with a rolling state, as
// Backend::conv1d_silu: x, y [n_tokens][channels] (y must not overlap x), weights
// [channels][kernel] taps oldest first, state [kernel-1][channels] oldest first, updated in place
// (empty when kernel == 1).
Status conv1d_silu(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan weights, DeviceSpan state, int64_t n_tokens,
                   int64_t channels, int64_t kernel, DeviceSpan y);

}  // namespace petrel::vk
