// The step of Backend::moe_experts that the expert products (ops_matmul.h mat_vec_id) leave: the
// weighted sum of each token's experts, plus the gated shared expert.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// out[t] = sum_i weights[t][i] down[t][i] over t's k slots in ascending expert id (ids int32
// [n_tokens][k], as moe_route writes them), then out[t] += sigmoid(shared_gate[t]) shared[t]
// when `shared` is not empty. down [n_tokens][k][n_embd], weights [n_tokens][k], shared
// [n_tokens][n_embd], shared_gate [n_tokens], out [n_tokens][n_embd] (not overlapping down).
Status moe_combine(VulkanOps& ops, Recording& rec, DeviceSpan down, DeviceSpan ids, DeviceSpan weights, int64_t n_tokens,
                   int64_t k, int64_t n_embd, DeviceSpan shared, DeviceSpan shared_gate, DeviceSpan out);

}  // namespace petrel::vk
