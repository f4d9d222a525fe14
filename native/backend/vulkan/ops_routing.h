// Choices made on the device from a row of scores: MoE expert routing and greedy sampling.
#pragma once

#include <cstdint>

#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// Most experts and experts per token the routing shader takes.
constexpr int64_t kRouteMaxExperts = 1024;
constexpr int64_t kRouteMaxUsed = 32;

// MoE routing of n_tokens rows of router logits [n_tokens][n_expert], as Backend::moe_route:
// probs [n_tokens][n_expert] = softmax over all experts (not written when probs is empty), ids
// int32 [n_tokens][k] = the k most probable (ties to the lower id, most probable first), weights
// [n_tokens][k] = their probabilities over max(their sum, 2^-14).
Status moe_route(VulkanOps& ops, Recording& rec, DeviceSpan logits, int64_t n_tokens, int64_t n_expert, int64_t k,
                 DeviceSpan probs, DeviceSpan ids, DeviceSpan weights);

// Greedy sampling: ids[r] (int32) = the index of the largest of row r's n logits
// ([n_rows][n] floats), the lowest index on ties, as engine/sampler.cpp argmax.
Status argmax(VulkanOps& ops, Recording& rec, DeviceSpan logits, int64_t n_rows, int64_t n, DeviceSpan ids);

}  // namespace petrel::vk
