#include "backend/vulkan/ops_gates.h"

#include <vector>

namespace petrel::vk {
namespace {

constexpr uint32_t kGatesWorkgroup = 256;

// The strides with packed defaults filled in, and the floats the operand spans; false for a
// negative stride.
bool resolve(Strides3* s, int64_t ne0, int64_t ne1, int64_t ne2, uint64_t* floats) {
  if (s->s1 == 0) s->s1 = ne0;
  if (s->s2 == 0) s->s2 = ne0 * ne1;
  if (s->s1 < 0 || s->s2 < 0) return false;
  *floats = static_cast<uint64_t>((ne1 - 1) * s->s1 + (ne2 - 1) * s->s2 + ne0);
  return true;
}

}  // namespace

Status deltanet_gates(VulkanOps& ops, Recording& rec, DeviceSpan b, Strides3 b_strides, DeviceSpan alpha,
                      Strides3 alpha_strides, int64_t ne0, int64_t ne1, int64_t n_tokens, DeviceSpan ssm_a,
                      DeviceSpan dt_bias, DeviceSpan beta, DeviceSpan g) {
  if (ne0 <= 0 || ne1 <= 0 || n_tokens <= 0) return bad_op("deltanet_gates of an empty shape");
  uint64_t b_floats = 0, a_floats = 0;
  if (!resolve(&b_strides, ne0, ne1, n_tokens, &b_floats) || !resolve(&alpha_strides, ne0, ne1, n_tokens, &a_floats)) {
    return bad_op("deltanet_gates: a negative stride");
  }
  const uint64_t n_heads = static_cast<uint64_t>(ne0 * ne1);
  const uint64_t n = n_heads * static_cast<uint64_t>(n_tokens);
  if (b.bytes < b_floats * 4 || alpha.bytes < a_floats * 4 || ssm_a.bytes < n_heads * 4 || dt_bias.bytes < n_heads * 4 ||
      beta.bytes < n * 4 || g.bytes < n * 4) {
    return bad_op("deltanet_gates operands smaller than their shape");
  }
  if (n > UINT32_MAX || b_floats > UINT32_MAX || a_floats > UINT32_MAX) return bad_op("deltanet_gates of too many values");
  std::vector<Binding> bindings(6);
  struct {
    uint32_t n, n_heads, ne0;
    uint32_t b_offset, b_s1, b_s2, a_offset, a_s1, a_s2;
    uint32_t ssm_a_offset, dt_offset, beta_offset, g_offset;
  } push{static_cast<uint32_t>(n),
         static_cast<uint32_t>(n_heads),
         static_cast<uint32_t>(ne0),
         0,
         static_cast<uint32_t>(b_strides.s1),
         static_cast<uint32_t>(b_strides.s2),
         0,
         static_cast<uint32_t>(alpha_strides.s1),
         static_cast<uint32_t>(alpha_strides.s2),
         0,
         0,
         0,
         0};
  PETREL_RETURN_IF_ERROR(ops.bind(b, &bindings[0], &push.b_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(alpha, &bindings[1], &push.a_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(ssm_a, &bindings[2], &push.ssm_a_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(dt_bias, &bindings[3], &push.dt_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(beta, &bindings[4], &push.beta_offset));
  PETREL_RETURN_IF_ERROR(ops.bind(g, &bindings[5], &push.g_offset));
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline("deltanet_gates", kGatesWorkgroup, &p));
  uint32_t groups[3];
  ops.grid((n + kGatesWorkgroup - 1) / kGatesWorkgroup, groups);
  rec.dispatch(ops.pipelines(), *p, bindings, &push, sizeof(push), groups);
  return Status::ok_status();
}

}  // namespace petrel::vk
