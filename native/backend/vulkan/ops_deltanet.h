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

// Bytes of scratch the chunked form needs for n_tokens (docs/MODEL.md#chunked-form): one record
// per (chunk of 64 tokens, value head).
uint64_t delta_net_chunked_scratch_bytes(const DeltaNetShape& shape, int64_t n_tokens);

// The gated delta rule over n_tokens for all value heads, as Backend::delta_net: q, k
// [n_tokens][Hk][d_k] (raw: l2-normalised here, q also scaled by 1/sqrt(d_k)), v
// [n_tokens][Hv][d_v] (each laid out as its HeadStrides say), g (log decay) and beta
// [n_tokens][Hv], state [Hv][d_k][d_v] updated in place, out [n_tokens][Hv][d_v]. Value head p
// reads key head p / (Hv/Hk) when shape.grouped_heads, else p % Hk.
// Given a scratch (at least delta_net_chunked_scratch_bytes), a batch of several tokens runs the
// chunked form: a pass over all chunks in parallel, then one carrying the state through them
// (a device with too little shared memory for it runs the recurrence). Without one, and for a
// single token, the recurrence runs token by token. Either way the state is read and written
// once per call. The caller picks the form for the batch size.
Status delta_net(VulkanOps& ops, Recording& rec, const DeltaNetShape& shape, DeviceSpan q, DeviceSpan k, DeviceSpan v,
                 DeviceSpan g, DeviceSpan beta, DeviceSpan state, int64_t n_tokens, DeviceSpan out,
                 HeadStrides q_strides = {}, HeadStrides k_strides = {}, HeadStrides v_strides = {},
                 DeviceSpan scratch = {});

}  // namespace petrel::vk
