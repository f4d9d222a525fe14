// Products with weight matrices in their file formats, dequantized in registers.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"
#include "quant/ggml_type.h"

namespace petrel::vk {

// Activation rows per matrix-vector dispatch (the shaders' MAX_TOKENS).
constexpr int64_t kMatVecMaxTokens = 8;

// y[t][r] = sum_c W[r][c] x[t][c] for a weight of `rows` rows of `cols` values in `type` and
// n_tokens (1..kMatVecMaxTokens) float rows x [n_tokens][cols]; y is [n_tokens][rows].
// Types so far: Q4_K.
Status mat_vec(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y);

}  // namespace petrel::vk
