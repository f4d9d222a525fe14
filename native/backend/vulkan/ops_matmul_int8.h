// Decode products with integer dot products (VK_KHR_shader_integer_dot_product): the activation
// rows quantized to q8_1 blocks (32 signed bytes, a float scale d and d * sum, as llama.cpp's
// q8_1), then each weight unit's bytes dotted with them four at a time (OpSDotAccSat on packed
// 4x8-bit words), one float scale per 16 or 32 values. Types: Q4_0, Q8_0, Q4_K, Q6_K. The results
// differ from the float products (ops_matmul.h) by the activations' 8-bit rounding: at most
// sum_c |W[r][c]| * d_block(c) / 2 per output.
//
// matmul (ops_matmul.h) takes this path for up to kMatVecMaxTokens tokens when the device has
// the feature (DeviceInfo::integer_dot_product; PETREL_VULKAN_NO_INT_DOT=1 turns it off) and the
// caller gives it scratch of mat_vec_int8_scratch_bytes.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"
#include "quant/ggml_type.h"

namespace petrel::vk {

// Whether the device runs the int8 products and there is a shader for weights of `type`.
bool mat_vec_int8_supports(const VulkanContext& ctx, GgmlType type);

// Bytes of q8_1 activations for n_tokens rows of `cols` values (cols a multiple of 32): 8 words of
// bytes and 2 of (d, d * sum) per block, 1.25 bytes per value.
uint64_t q8_1_bytes(int64_t cols, int64_t n_tokens);

// q = x as q8_1 blocks: x is [n_tokens][cols] floats, q a span of at least q8_1_bytes (token t's
// packed bytes at word 8 (cols / 32) t, all the (d, d * sum) pairs after the last token's bytes).
Status quantize_q8_1(VulkanOps& ops, Recording& rec, DeviceSpan x, int64_t cols, int64_t n_tokens, DeviceSpan q);

// y[t][r] = sum_c W[r][c] x[t][c] for 1..kMatVecMaxTokens activation rows already quantized into
// q by quantize_q8_1 (same cols and n_tokens); y is [n_tokens][rows]. A weight larger than one
// binding is bound in row ranges, one dispatch each.
Status mat_vec_int8_q8_1(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                         DeviceSpan q, int64_t n_tokens, DeviceSpan y);

// Both: x quantized into `scratch` (at least q8_1_bytes), then the product. Two dispatches (more
// for a weight larger than one binding); the recording's barrier between them orders the scratch.
Status mat_vec_int8(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                    DeviceSpan x, int64_t n_tokens, DeviceSpan y, DeviceSpan scratch);

}  // namespace petrel::vk
