#include "backend/vulkan/ops_attention.h"

#include <algorithm>
#include <string>
#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kAttentionWorkgroup = 128;
constexpr uint32_t kAttentionBlock = 32;  // positions per online-softmax step (BK)
constexpr uint32_t kMergeWorkgroup = 128;
constexpr uint32_t kStoreWorkgroup = 256;

// Query rows per workgroup: as many as 16 KiB of shared floats hold, at most 16.
uint32_t attention_rows(int64_t head_dim) {
  return static_cast<uint32_t>(std::clamp<int64_t>(4096 / head_dim, 1, 16));
}

// Split the context only for a single query: a batch has parallelism in its tokens, and its
// partial results would grow with tokens x parts.
int64_t parts_for(int64_t kv_capacity, int64_t n_tokens, int64_t part_len) {
  if (n_tokens != 1 || part_len <= 0) return 1;
  return (kv_capacity + part_len - 1) / part_len;
}

// The caches' heads bound per dispatch: all of them when the caches fit one binding, else as
// many whole heads as do.
Status heads_per_binding(const VulkanOps& ops, uint64_t head_bytes, int64_t n_head_kv, int64_t* out) {
  const uint64_t align = std::max<uint64_t>(ops.context().info().min_storage_buffer_offset_alignment, 4);
  if (head_bytes * static_cast<uint64_t>(n_head_kv) + align <= ops.max_binding_bytes()) {
    *out = n_head_kv;
    return Status::ok_status();
  }
  if (ops.max_binding_bytes() < head_bytes + align) return bad_op("one KV head of the cache is larger than a binding");
  *out = static_cast<int64_t>((ops.max_binding_bytes() - align) / head_bytes);
  return Status::ok_status();
}

DeviceSpan heads_of(DeviceSpan cache, uint64_t head_bytes, int64_t h0, int64_t n) {
  return DeviceSpan{cache.buffer, cache.offset + static_cast<uint64_t>(h0) * head_bytes, static_cast<uint64_t>(n) * head_bytes};
}

// Bytes of one cached value, 0 for a type the shaders do not read.
uint64_t cache_element_bytes(GgmlType type) {
  return type == GgmlType::F16 || type == GgmlType::F32 ? tensor_element_bytes(type) : 0;
}

}  // namespace

uint64_t attention_scratch_bytes(const AttentionShape& shape, int64_t kv_capacity, int64_t n_tokens, int64_t part_len) {
  const int64_t parts = parts_for(kv_capacity, n_tokens, part_len);
  if (parts <= 1) return 0;
  return static_cast<uint64_t>(n_tokens) * static_cast<uint64_t>(shape.n_head) * static_cast<uint64_t>(parts) *
         static_cast<uint64_t>(shape.head_dim + 2) * 4;
}

Status attention(VulkanOps& ops, Recording& rec, const AttentionShape& shape, DeviceSpan q, DeviceSpan k_cache,
                 DeviceSpan v_cache, int64_t kv_capacity, DeviceSpan positions, int64_t n_tokens, DeviceSpan out,
                 DeviceSpan scratch, GgmlType cache_type, int64_t part_len) {
  const int64_t n_head = shape.n_head, n_head_kv = shape.n_head_kv, hd = shape.head_dim;
  if (n_tokens <= 0 || n_head <= 0 || n_head_kv <= 0 || hd <= 0 || kv_capacity <= 0) {
    return bad_op("attention of an empty shape");
  }
  if (n_head % n_head_kv != 0 || hd % 2 != 0) return bad_op("attention: n_head % n_head_kv or head_dim odd");
  const uint64_t elem = cache_element_bytes(cache_type);
  if (elem == 0) return Status(StatusCode::unsupported, "vulkan: attention over a cache neither F16 nor F32");
  const uint64_t head_bytes = static_cast<uint64_t>(kv_capacity) * static_cast<uint64_t>(hd) * elem;
  const uint64_t q_bytes = static_cast<uint64_t>(n_tokens * n_head * hd) * 4;
  if (q.bytes < q_bytes || out.bytes < q_bytes || positions.bytes < 4 ||
      k_cache.bytes < head_bytes * static_cast<uint64_t>(n_head_kv) ||
      v_cache.bytes < head_bytes * static_cast<uint64_t>(n_head_kv)) {
    return bad_op("attention operands smaller than their shape");
  }
  if (head_bytes / 4 > UINT32_MAX || q_bytes / 4 > UINT32_MAX) return bad_op("attention of too many values");
  const int64_t n_parts = parts_for(kv_capacity, n_tokens, part_len);
  const uint64_t partial_bytes = attention_scratch_bytes(shape, kv_capacity, n_tokens, part_len);
  if (scratch.bytes < partial_bytes) return bad_op("attention scratch smaller than attention_scratch_bytes");

  const uint32_t rows = attention_rows(hd);
  const int64_t group = n_head / n_head_kv;
  int64_t heads_per_wg = std::min<int64_t>(group, rows);
  while (group % heads_per_wg != 0) --heads_per_wg;
  const int64_t tokens_per_wg = rows / heads_per_wg;
  const uint64_t shared_bytes = static_cast<uint64_t>(rows) * (hd + kAttentionBlock + 3) * 4;
  if (shared_bytes > ops.context().info().max_shared_memory) return bad_op("attention: head_dim too large");
  const int64_t token_tiles = (n_tokens + tokens_per_wg - 1) / tokens_per_wg;
  const uint32_t* max_groups = ops.context().info().max_workgroup_count;
  if (token_tiles > max_groups[1] || n_parts > max_groups[2] || n_head_kv * (group / heads_per_wg) > max_groups[0]) {
    return bad_op("attention: too many workgroups for this shape");
  }
  int64_t heads_per_bind = 0;
  PETREL_RETURN_IF_ERROR(heads_per_binding(ops, head_bytes, n_head_kv, &heads_per_bind));

  std::vector<Binding> b(5);
  struct {
    uint32_t n_tokens, n_head, group, heads_per_wg, tokens_per_wg, capacity, part_len, n_parts, head0;
    uint32_t q_offset, k_offset, v_offset, pos_offset, o_offset;
    float scale;
    uint32_t mode;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(n_head), static_cast<uint32_t>(group),
         static_cast<uint32_t>(heads_per_wg), static_cast<uint32_t>(tokens_per_wg), static_cast<uint32_t>(kv_capacity),
         static_cast<uint32_t>(n_parts > 1 ? part_len : kv_capacity), static_cast<uint32_t>(n_parts), 0,
         0, 0, 0, 0, 0, shape.scale, n_parts > 1 ? 1u : 0u};
  PETREL_RETURN_IF_ERROR(ops.bind(q, &b[0], &push.q_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(positions, &b[3], &push.pos_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(n_parts > 1 ? scratch : out, &b[4], &push.o_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("attention", kAttentionWorkgroup, &p,
                                      {static_cast<uint32_t>(hd), rows, kAttentionBlock, elem == 4 ? 1u : 0u}));
  for (int64_t h0 = 0; h0 < n_head_kv; h0 += heads_per_bind) {
    const int64_t nh = std::min(heads_per_bind, n_head_kv - h0);
    PETREL_RETURN_IF_ERROR(ops.bind(heads_of(k_cache, head_bytes, h0, nh), &b[1], &push.k_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(heads_of(v_cache, head_bytes, h0, nh), &b[2], &push.v_offset));
    push.head0 = static_cast<uint32_t>(h0);
    const uint32_t groups[3] = {static_cast<uint32_t>(nh * (group / heads_per_wg)), static_cast<uint32_t>(token_tiles),
                                static_cast<uint32_t>(n_parts)};
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  if (n_parts == 1) return Status::ok_status();

  std::vector<Binding> mb(3);
  struct {
    uint32_t n_tokens, n_head, head_dim, part_len, n_parts, part_offset, pos_offset, o_offset;
  } merge{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(n_head), static_cast<uint32_t>(hd),
          static_cast<uint32_t>(part_len), static_cast<uint32_t>(n_parts), 0, 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{scratch.buffer, scratch.offset, partial_bytes}, &mb[0], &merge.part_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(positions, &mb[1], &merge.pos_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(out, &mb[2], &merge.o_offset));
  const Pipeline* mp = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("attention_merge", kMergeWorkgroup, &mp));
  uint32_t groups[3];
  ops.grid(static_cast<uint64_t>(n_tokens * n_head), groups);
  rec.dispatch(ops.pipelines(), *mp, mb, &merge, sizeof(merge), groups);
  return Status::ok_status();
}

Status kv_store(VulkanOps& ops, Recording& rec, DeviceSpan x, int64_t n_tokens, int64_t n_head_kv, int64_t head_dim,
                DeviceSpan cache, int64_t kv_capacity, DeviceSpan positions, GgmlType cache_type) {
  if (n_tokens <= 0 || n_head_kv <= 0 || head_dim <= 0 || kv_capacity <= 0) return bad_op("kv_store of an empty shape");
  if (head_dim % 2 != 0) return bad_op("kv_store: head_dim must be even");
  const uint64_t elem = cache_element_bytes(cache_type);
  if (elem == 0) return Status(StatusCode::unsupported, "vulkan: kv_store into a cache neither F16 nor F32");
  const uint64_t head_bytes = static_cast<uint64_t>(kv_capacity) * static_cast<uint64_t>(head_dim) * elem;
  const uint64_t x_bytes = static_cast<uint64_t>(n_tokens * n_head_kv * head_dim) * 4;
  if (x.bytes < x_bytes || positions.bytes < static_cast<uint64_t>(n_tokens) * 4 ||
      cache.bytes < head_bytes * static_cast<uint64_t>(n_head_kv)) {
    return bad_op("kv_store operands smaller than their shape");
  }
  if (x_bytes / 4 > UINT32_MAX || head_bytes / 4 > UINT32_MAX) return bad_op("kv_store of too many values");
  int64_t heads_per_bind = 0;
  PETREL_RETURN_IF_ERROR(heads_per_binding(ops, head_bytes, n_head_kv, &heads_per_bind));
  std::vector<Binding> b(3);
  struct {
    uint32_t n_tokens, n_head_kv, head_dim, capacity, head0, n_heads, x_offset, c_offset, pos_offset;
  } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(n_head_kv), static_cast<uint32_t>(head_dim),
         static_cast<uint32_t>(kv_capacity), 0, 0, 0, 0, 0};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[0], &push.x_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(positions, &b[2], &push.pos_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("kv_store", kStoreWorkgroup, &p, {elem == 4 ? 1u : 0u}));
  for (int64_t h0 = 0; h0 < n_head_kv; h0 += heads_per_bind) {
    const int64_t nh = std::min(heads_per_bind, n_head_kv - h0);
    PETREL_RETURN_IF_ERROR(ops.bind(heads_of(cache, head_bytes, h0, nh), &b[1], &push.c_offset));
    push.head0 = static_cast<uint32_t>(h0);
    push.n_heads = static_cast<uint32_t>(nh);
    uint32_t groups[3];
    ops.grid((static_cast<uint64_t>(n_tokens * nh * head_dim / 2) + kStoreWorkgroup - 1) / kStoreWorkgroup, groups);
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
