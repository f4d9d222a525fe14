// Rotary position embedding.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// NEOX RoPE in place on the first n_rot dims of each head (pairs (i, i + n_rot/2)), as
// Backend::rope_neox: x is [n_tokens][n_heads][head_dim] floats, positions n_tokens int32 in
// device memory (read when the recording runs, so it replays for the next token). n_rot even,
// 0 <= n_rot <= head_dim (0: nothing to do).
Status rope_neox(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan positions, int64_t n_tokens, int64_t n_heads,
                 int64_t head_dim, int64_t n_rot, float freq_base);

}  // namespace petrel::vk
