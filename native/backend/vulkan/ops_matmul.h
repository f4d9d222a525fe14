// Weights in their file formats: products with float activations and row lookup, dequantized in
// registers (shaders/dequant.glsl). Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS (every type petrel's quantizer writes); any other is
// unsupported. A weight {cols, rows} is `rows` rows of `cols` values, as in backend.h; quantized
// rows are whole blocks (32 values for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL, 256 for the
// K-quants and IQ4_XS), float rows any length. A weight may start at any 4-byte-aligned offset,
// its rows need not (18-, 22-, 34-, 110- and 210-byte blocks), and it may be larger than one
// binding (bound in row ranges, one dispatch each).
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"
#include "quant/ggml_type.h"

namespace petrel::vk {

// Activation rows per matrix-vector dispatch (the shaders' MAX_TOKENS).
constexpr int64_t kMatVecMaxTokens = 8;

// Whether the matrix shaders take weights of `type`.
bool matmul_supports(GgmlType type);

// y[t][r] = sum_c W[r][c] x[t][c] for a weight of `rows` rows of `cols` values in `type` and
// n_tokens (1..kMatVecMaxTokens) float rows x [n_tokens][cols]; y is [n_tokens][rows].
Status mat_vec(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y);

// The same product for any number of tokens (prefill): tiles of 64 tokens x 64 weight rows, the
// weight tile dequantized into shared memory. Portable (no cooperative-matrix or subgroup
// feature); unsupported on a device with less than 16.5 KiB of shared memory.
Status mat_mat(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y);

// The product as the model calls it: mat_vec for up to kMatVecMaxTokens tokens, else mat_mat.
Status matmul(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
              int64_t n_tokens, DeviceSpan y);

// matmul with scratch of at least matmul_scratch_bytes (or an empty span when that is 0): up to
// kMatVecMaxTokens tokens run the integer-dot product where the device and the type have it
// (ops_matmul_int8.h), the activations quantized into the scratch; otherwise as matmul.
Status matmul_with_scratch(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                           DeviceSpan x, int64_t n_tokens, DeviceSpan y, DeviceSpan scratch);

// Bytes of scratch matmul uses for this product on this device: 0 when it needs none.
uint64_t matmul_scratch_bytes(const VulkanOps& ops, GgmlType type, int64_t cols, int64_t n_tokens);

// MoE decode: y[t][j] = W_e x for e = ids[t][j], each of n_tokens tokens and each of its k expert
// slots, the int32 ids [n_tokens][k] read on the device (written there by moe_route, so a recorded
// step replays). w is the stacked weight {cols, rows, n_expert}; x is one input per token
// ([n_tokens][cols], x_per_slot false: gate and up) or one per slot ([n_tokens][k][cols], true:
// down); y is [n_tokens][k][rows]. An id outside [0, n_expert) gives a row of zeros. Meant for a few
// tokens (n_tokens * k up to the device's grid height): each slot is a row of workgroups.
//
// A stack larger than one binding (experts stacked in one tensor pass 128 MiB on lavapipe) is
// bound in expert ranges, one dispatch each, every dispatch skipping the slots whose expert it
// does not hold; an expert larger than one binding is bound in row ranges of each expert.
Status mat_vec_id(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                  int64_t n_expert, DeviceSpan ids, int64_t n_tokens, int64_t k, DeviceSpan x, bool x_per_slot,
                  DeviceSpan y);

// Embedding lookup: out[i] = row ids[i] of `table` (`rows` rows of `cols` values in `type`) as
// floats, for n int32 ids read on the device (a recorded decode step replays with the next id
// written to the same span); out is [n][cols]. An id outside [0, rows) gives a row of zeros.
Status get_rows(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan table, int64_t rows, int64_t cols,
                DeviceSpan ids, int64_t n, DeviceSpan out);

}  // namespace petrel::vk
