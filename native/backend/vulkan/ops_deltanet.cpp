#include "backend/vulkan/ops_deltanet.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kDeltaWorkgroup = 128;
constexpr uint32_t kDeltaColumns = 32;  // state columns per workgroup (kDeltaWorkgroup / 32 lanes each)
constexpr int64_t kMaxKeyDims = 512;    // registers per thread grow with d_k
constexpr int64_t kChunk = 64;          // the shaders' C
constexpr uint32_t kChunkPrepWorkgroup = 256;

// The strides with packed defaults filled in, and the floats the operand must span; false when a
// stride would let heads overlap.
bool resolve(HeadStrides* s, int64_t heads, int64_t d, int64_t n_tokens, uint64_t* floats) {
  if (s->head == 0) s->head = d;
  if (s->token == 0) s->token = heads * d;
  if (s->head < d || s->token < (heads - 1) * s->head + d) return false;
  *floats = static_cast<uint64_t>((n_tokens - 1) * s->token + (heads - 1) * s->head + d);
  return true;
}

uint64_t chunk_record_floats(const DeltaNetShape& s) {
  return static_cast<uint64_t>(kChunk * s.d_k + kChunk * s.d_v + kChunk * kChunk + 3 * kChunk);
}

}  // namespace

uint64_t delta_net_chunked_scratch_bytes(const DeltaNetShape& shape, int64_t n_tokens) {
  if (n_tokens <= 0 || shape.n_v_heads <= 0) return 0;
  const uint64_t chunks = static_cast<uint64_t>((n_tokens + kChunk - 1) / kChunk);
  return chunks * static_cast<uint64_t>(shape.n_v_heads) * chunk_record_floats(shape) * 4;
}

Status delta_net(VulkanOps& ops, Recording& rec, const DeltaNetShape& shape, DeviceSpan q, DeviceSpan k, DeviceSpan v,
                 DeviceSpan g, DeviceSpan beta, DeviceSpan state, int64_t n_tokens, DeviceSpan out,
                 HeadStrides q_strides, HeadStrides k_strides, HeadStrides v_strides, DeviceSpan scratch) {
  const int64_t hk = shape.n_k_heads, hv = shape.n_v_heads, dk = shape.d_k, dv = shape.d_v;
  if (n_tokens <= 0 || hk <= 0 || hv <= 0 || dk <= 0 || dv <= 0) return bad_op("delta_net of an empty shape");
  if (hv % hk != 0) return bad_op("delta_net: value heads must be a multiple of key heads");
  if (dk > kMaxKeyDims) return bad_op("delta_net: d_k above " + std::to_string(kMaxKeyDims));
  const uint64_t n = static_cast<uint64_t>(n_tokens);
  uint64_t q_floats = 0, k_floats = 0, v_floats = 0;
  if (!resolve(&q_strides, hk, dk, n_tokens, &q_floats) || !resolve(&k_strides, hk, dk, n_tokens, &k_floats) ||
      !resolve(&v_strides, hv, dv, n_tokens, &v_floats)) {
    return bad_op("delta_net: q, k or v strides let heads overlap");
  }
  const uint64_t value_bytes = n * static_cast<uint64_t>(hv * dv) * 4;
  const uint64_t state_bytes = static_cast<uint64_t>(hv * dk * dv) * 4;
  if (q.bytes < q_floats * 4 || k.bytes < k_floats * 4 || v.bytes < v_floats * 4 || out.bytes < value_bytes ||
      g.bytes < n * static_cast<uint64_t>(hv) * 4 || beta.bytes < n * static_cast<uint64_t>(hv) * 4 ||
      state.bytes < state_bytes) {
    return bad_op("delta_net operands smaller than their shape");
  }
  if (std::max({q_floats, k_floats, v_floats, value_bytes / 4, state_bytes / 4}) > UINT32_MAX) {
    return bad_op("delta_net of too many values");
  }
  const uint64_t groups_x = static_cast<uint64_t>(hv) * ((static_cast<uint64_t>(dv) + kDeltaColumns - 1) / kDeltaColumns);
  if (groups_x > ops.context().info().max_workgroup_count[0]) return bad_op("delta_net of too many heads");
  const uint64_t scratch_bytes = delta_net_chunked_scratch_bytes(shape, n_tokens);
  // The chunked form keeps a head's DK x 32 state block and a chunk's corrections in shared memory.
  const uint64_t chunk_shared = (static_cast<uint64_t>(dk) * kDeltaColumns + kChunk * kDeltaColumns + 3 * kChunk) * 4;
  // A device without the shared memory runs the recurrence instead.
  const bool chunked = n_tokens > 1 && scratch.bytes > 0 && chunk_shared <= ops.context().info().max_shared_memory;
  if (chunked && scratch.bytes < scratch_bytes) return bad_op("delta_net scratch smaller than its chunk records");
  if (chunked && scratch_bytes / 4 > UINT32_MAX) return bad_op("delta_net scratch of too many values");

  if (!chunked) {
    std::vector<Binding> b(7);
    struct {
      uint32_t n_tokens, n_k_heads, n_v_heads, dv, grouped;
      float eps, q_scale;
      uint32_t q_offset, k_offset, v_offset, g_offset, b_offset, s_offset, o_offset;
      uint32_t q_head_stride, q_token_stride, k_head_stride, k_token_stride, v_head_stride, v_token_stride;
    } push{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(hk), static_cast<uint32_t>(hv), static_cast<uint32_t>(dv),
           shape.grouped_heads ? 1u : 0u, shape.eps, 1.0f / std::sqrt(static_cast<float>(dk)), 0, 0, 0, 0, 0, 0, 0,
           static_cast<uint32_t>(q_strides.head), static_cast<uint32_t>(q_strides.token),
           static_cast<uint32_t>(k_strides.head), static_cast<uint32_t>(k_strides.token),
           static_cast<uint32_t>(v_strides.head), static_cast<uint32_t>(v_strides.token)};
    PETREL_RETURN_IF_ERROR(ops.bind(q, &b[0], &push.q_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(k, &b[1], &push.k_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(v, &b[2], &push.v_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(g, &b[3], &push.g_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(beta, &b[4], &push.b_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(state, &b[5], &push.s_offset));
    PETREL_RETURN_IF_ERROR(ops.bind(out, &b[6], &push.o_offset));
    const Pipeline* p = nullptr;
    PETREL_RETURN_IF_ERROR(
        ops.pipeline("delta_net_recurrent", kDeltaWorkgroup, &p, {static_cast<uint32_t>(dk), kDeltaColumns}));
    const uint32_t groups[3] = {static_cast<uint32_t>(groups_x), 1, 1};
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
    return Status::ok_status();
  }

  // Pass 1: one workgroup per (value head, chunk).
  const uint64_t prep_groups = static_cast<uint64_t>(hv) * static_cast<uint64_t>((n_tokens + kChunk - 1) / kChunk);
  if (prep_groups > ops.context().info().max_workgroup_count[0]) return bad_op("delta_net: too many chunks");
  const DeviceSpan records{scratch.buffer, scratch.offset, scratch_bytes};
  std::vector<Binding> b(6);
  struct {
    uint32_t n_tokens, n_k_heads, n_v_heads, dv, grouped;
    float eps, q_scale;
    uint32_t q_offset, k_offset, v_offset, g_offset, b_offset, x_offset;
    uint32_t q_head_stride, q_token_stride, k_head_stride, k_token_stride, v_head_stride, v_token_stride;
  } prep{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(hk), static_cast<uint32_t>(hv), static_cast<uint32_t>(dv),
         shape.grouped_heads ? 1u : 0u, shape.eps, 1.0f / std::sqrt(static_cast<float>(dk)), 0, 0, 0, 0, 0, 0,
         static_cast<uint32_t>(q_strides.head), static_cast<uint32_t>(q_strides.token),
         static_cast<uint32_t>(k_strides.head), static_cast<uint32_t>(k_strides.token),
         static_cast<uint32_t>(v_strides.head), static_cast<uint32_t>(v_strides.token)};
  PETREL_RETURN_IF_ERROR(ops.bind(q, &b[0], &prep.q_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(k, &b[1], &prep.k_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(v, &b[2], &prep.v_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(g, &b[3], &prep.g_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(beta, &b[4], &prep.b_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(records, &b[5], &prep.x_offset));
  const Pipeline* p1 = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("delta_net_chunk_prep", kChunkPrepWorkgroup, &p1, {static_cast<uint32_t>(dk)}));
  const uint32_t groups1[3] = {static_cast<uint32_t>(prep_groups), 1, 1};
  rec.dispatch(ops.pipelines(), *p1, b, &prep, sizeof(prep), groups1);

  // Pass 2: one workgroup per (value head, column block) through the chunks in order.
  std::vector<Binding> b2(5);
  struct {
    uint32_t n_tokens, n_k_heads, n_v_heads, dv, grouped;
    uint32_t q_offset, k_offset, x_offset, s_offset, o_offset;
    uint32_t q_head_stride, q_token_stride, k_head_stride, k_token_stride;
  } carry{static_cast<uint32_t>(n_tokens), static_cast<uint32_t>(hk), static_cast<uint32_t>(hv), static_cast<uint32_t>(dv),
          shape.grouped_heads ? 1u : 0u, 0, 0, 0, 0, 0,
          static_cast<uint32_t>(q_strides.head), static_cast<uint32_t>(q_strides.token),
          static_cast<uint32_t>(k_strides.head), static_cast<uint32_t>(k_strides.token)};
  b2[0] = b[0];
  b2[1] = b[1];
  b2[2] = b[5];
  carry.q_offset = prep.q_offset;
  carry.k_offset = prep.k_offset;
  carry.x_offset = prep.x_offset;
  PETREL_RETURN_IF_ERROR(ops.bind(state, &b2[3], &carry.s_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(out, &b2[4], &carry.o_offset));
  const Pipeline* p2 = nullptr;
  PETREL_RETURN_IF_ERROR(
      ops.pipeline("delta_net_chunk_state", kDeltaWorkgroup, &p2, {static_cast<uint32_t>(dk), kDeltaColumns}));
  const uint32_t groups2[3] = {static_cast<uint32_t>(groups_x), 1, 1};
  rec.dispatch(ops.pipelines(), *p2, b2, &carry, sizeof(carry), groups2);
  return Status::ok_status();
}

}  // namespace petrel::vk
