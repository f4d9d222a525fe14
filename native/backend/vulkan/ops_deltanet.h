// The gated delta rule of the Gated DeltaNet layers.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// Where the heads and tokens of q, k or v lie: floats from one head to the next and from one
// token to the next. Zero means packed ([n_tokens][heads][d]); the model's q, k and v are
// columns of the conv output, rows of conv_dim floats.
struct HeadStrides {
  int64_t head = 0;
  int64_t token = 0;
};

// The gated delta rule over n_tokens for all value heads, as Backend::delta_net: q, k
// [n_tokens][Hk][d_k] (raw: l2-normalised here, q also scaled by 1/sqrt(d_k)), v
// [n_tokens][Hv][d_v] (each laid out as its HeadStrides say), g (log decay) and beta
// [n_tokens][Hv], state [Hv][d_k][d_v] updated in place, out [n_tokens][Hv][d_v]. Value head p
// reads key head p / (Hv/Hk) when shape.grouped_heads, else p % Hk.
// Decode and prefill alike run the recurrence token by token, the state held on chip for the
// whole batch (read and written once per call).
Status delta_net(VulkanOps& ops, Recording& rec, const DeltaNetShape& shape, DeviceSpan q, DeviceSpan k, DeviceSpan v,
                 DeviceSpan g, DeviceSpan beta, DeviceSpan state, int64_t n_tokens, DeviceSpan out,
                 HeadStrides q_strides = {}, HeadStrides k_strides = {}, HeadStrides v_strides = {});

}  // namespace petrel::vk
