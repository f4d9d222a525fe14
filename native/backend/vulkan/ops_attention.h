// Softmax attention over the KV cache, and the append of new keys and values to it.
//
// The caches are head-major, [n_head_kv][capacity][head_dim] of fp16 or float (cache_type F16
// or F32), as the CPU backend's. The positions (int32, one per token) are read from device
// memory by every shader here, and no dispatch size depends on them, so one recording replays
// for every decode step.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// Positions per context part of split (flash-decoding) attention, unless the caller says.
constexpr int64_t kAttentionPartLen = 256;

// Bytes of scratch attention() needs for n_tokens queries over a cache of kv_capacity positions
// (0 when it needs none: batches run without splitting the context).
uint64_t attention_scratch_bytes(const AttentionShape& shape, int64_t kv_capacity, int64_t n_tokens,
                                 int64_t part_len = kAttentionPartLen);

// Causal GQA attention, as Backend::attention: n_tokens queries
// q [n_tokens][n_head][head_dim] at consecutive positions (int32 [n_tokens] in device memory;
// only the first is read) over the cached positions up to each, out [n_tokens][n_head][head_dim].
// A single query (decode) splits the context into parts of part_len positions, one workgroup
// each, and merges them in a second pass through `scratch` (attention_scratch_bytes; unused
// otherwise). head_dim even; both caches of cache_type.
Status attention(VulkanOps& ops, Recording& rec, const AttentionShape& shape, DeviceSpan q, DeviceSpan k_cache,
                 DeviceSpan v_cache, int64_t kv_capacity, DeviceSpan positions, int64_t n_tokens, DeviceSpan out,
                 DeviceSpan scratch, GgmlType cache_type = GgmlType::F16, int64_t part_len = kAttentionPartLen);

// Writes x ([n_tokens][n_head_kv][head_dim] floats: this batch's keys, or its values) into the
// cache at positions[t] (int32 [n_tokens] in device memory), as Backend::kv_store: rounded to
// fp16 (to nearest even, as ggml and quant/fp16.h) for an F16 cache, as they are for F32.
Status kv_store(VulkanOps& ops, Recording& rec, DeviceSpan x, int64_t n_tokens, int64_t n_head_kv, int64_t head_dim,
                DeviceSpan cache, int64_t kv_capacity, DeviceSpan positions, GgmlType cache_type = GgmlType::F16);

}  // namespace petrel::vk
