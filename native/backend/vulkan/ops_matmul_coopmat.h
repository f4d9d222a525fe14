// The prefill product on NVIDIA's cooperative matrices (VK_NV_cooperative_matrix; shaders
// mul_mat_coopmat.glsl): mat_mat's product (ops_matmul.h), with the weight tile dequantized into
// shared memory as fp16, the activations rounded to fp16, and 16x16x16 fp16 products accumulated
// in fp32. Chosen by matmul for more than kMatVecMaxTokens tokens where mat_mat_coopmat_supports.
//
// Accuracy: each product term carries the fp16 rounding of its weight and its activation, so a
// result is within about 2^-10 of the sum of |W[r][c] x[t][c]| of the float product (fp32
// accumulation adds the float product's own error); activations beyond fp16's range (65504)
// become infinite.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"
#include "quant/ggml_type.h"

namespace petrel::vk {

// Whether the device enabled NV cooperative matrices (DeviceInfo::coopmat_nv, off with
// PETREL_VULKAN_NO_COOPMAT) and there is a cooperative-matrix shader for `type` (every type
// mat_mat takes).
bool mat_mat_coopmat_supports(const VulkanContext& ctx, GgmlType type);

// y[t][r] = sum_c W[r][c] x[t][c] for any number of tokens, with mat_mat's operands: a weight of
// `rows` rows of `cols` values in `type` (bound in row ranges where it is larger than one binding),
// x [n_tokens][cols] and y [n_tokens][rows] as floats. Tiles of 64 tokens x 64 weight rows, four
// subgroups per workgroup. unsupported where !mat_mat_coopmat_supports or the device has less
// shared memory than the tiles.
Status mat_mat_coopmat(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                       DeviceSpan x, int64_t n_tokens, DeviceSpan y);

}  // namespace petrel::vk
