// The DeltaNet gates shader against the CPU backend's deltanet_gates, in ulps: qwen35's packed b
// and alpha, and qwen3next's [b (r) | alpha (r)] rows per key head read in place from one buffer,
// with alpha + dt_bias on both sides of softplus's cut at 20 and far out on the exp tails.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/ops_gates.h"
#include "tests/vulkan/sequence_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// Both sides compute the same formulas in float32: exp to half an ulp on the CPU (libm's expf)
// and to 1.5 on the device (the shader's own, as Cephes'), the sum 1 + exp(-b) and the
// multiply by ssm_a rounded on each side, and a division Vulkan lets be off by 2.5 ulp; so
// sigmoid's results may part by 1.5 + 0.5 + 2.5 + 3 x 0.5 = 6 ulps (softplus's by fewer).
constexpr int64_t kMaxUlps = 6;

// Units in the last place between two floats (0 for equal ones, NaN never close).
int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return INT64_MAX;
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

// Every element within kMaxUlps; reports the first miss.
bool within_ulps(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (ulps(got[i], want[i]) > kMaxUlps) {
      std::fprintf(stderr, "  %s[%zu]: got %.9g, want %.9g (%lld ulps)\n", what, i, got[i], want[i],
                   static_cast<long long>(ulps(got[i], want[i])));
      return false;
    }
  }
  return true;
}

// Values of alpha + dt_bias to put on the heads: around softplus's cut at 20 (20 itself takes
// log1p(exp), the next float up is linear), and where exp's argument is large.
const float kEdges[] = {20.0f, std::nextafter(20.0f, 30.0f), std::nextafter(20.0f, 0.0f), 19.5f, 20.5f, 25.0f,
                        -20.0f, -30.0f, 0.0f, 1e-8f, -1e-8f, 0.3465736f, -0.3465736f, 88.0f, 15.0f};

// b and alpha of one layout: element (i0, i1, t) of b at b_at + i0 + i1 * s1 + t * s2 of `host`,
// alpha's at a_at + the same. packed: the device is given zero strides (packed is the default).
struct Layout {
  int64_t ne0, ne1, n_tokens;
  int64_t s1, s2;
  int64_t b_at, a_at;
  int64_t host_floats;
  bool packed;
};

void check_layout(Device& dev, const Layout& l, uint64_t seed) {
  auto cpu = make_cpu_backend(1);
  Rng rng(seed);
  const int64_t n_heads = l.ne0 * l.ne1;
  std::vector<float> host(static_cast<size_t>(l.host_floats));
  for (auto& v : host) v = 8.0f * rng.normal();  // b across sigmoid's range (alpha is set below)
  std::vector<float> ssm_a(static_cast<size_t>(n_heads)), dt(static_cast<size_t>(n_heads));
  for (int64_t h = 0; h < n_heads; ++h) {
    ssm_a[static_cast<size_t>(h)] = -std::exp(rng.normal());
    dt[static_cast<size_t>(h)] = 2.0f * rng.normal();
  }
  // alpha + dt_bias: every third head's sums are the edge values exactly (its dt_bias 0), the
  // others spread around and across the cut.
  const size_t n_edges = sizeof(kEdges) / sizeof(kEdges[0]);
  for (int64_t h = 0; h < n_heads; h += 3) dt[static_cast<size_t>(h)] = 0.0f;
  size_t edge = 0;
  for (int64_t t = 0; t < l.n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float& a = host[static_cast<size_t>(l.a_at + h % l.ne0 + h / l.ne0 * l.s1 + t * l.s2)];
      a = h % 3 == 0 ? kEdges[edge++ % n_edges] : 20.0f + 12.0f * rng.normal() - dt[static_cast<size_t>(h)];
    }
  }
  std::vector<float> beta(static_cast<size_t>(l.n_tokens * n_heads)), g(beta.size());
  cpu->deltanet_gates(host_view(*cpu, host, l.b_at, l.ne0, l.ne1, l.n_tokens, l.s1, l.s2),
                      host_view(*cpu, host, l.a_at, l.ne0, l.ne1, l.n_tokens, l.s1, l.s2),
                      cpu->wrap_host(ssm_a.data(), Tensor::contiguous(GgmlType::F32, n_heads)),
                      cpu->wrap_host(dt.data(), Tensor::contiguous(GgmlType::F32, n_heads)),
                      cpu->wrap_host(beta.data(), Tensor::contiguous(GgmlType::F32, n_heads, l.n_tokens)),
                      cpu->wrap_host(g.data(), Tensor::contiguous(GgmlType::F32, n_heads, l.n_tokens)));
  // The device's operands start 4 or 12 bytes into their buffers: below the binding alignment.
  auto hb = buffer_of(*dev.ctx, host, 4);
  auto ab = buffer_of(*dev.ctx, ssm_a, 12);
  auto db = buffer_of(*dev.ctx, dt, 4);
  auto beta_b = buffer_of(*dev.ctx, std::vector<float>(beta.size()), 4);
  auto gb = buffer_of(*dev.ctx, std::vector<float>(g.size()));
  PETREL_CHECK(hb && ab && db && beta_b && gb);
  if (!(hb && ab && db && beta_b && gb)) return;
  const uint64_t host_bytes = host.size() * 4 + 4;
  auto rec = record(dev, [&](Recording& r) {
    const uint64_t b_off = 4 + static_cast<uint64_t>(l.b_at) * 4, a_off = 4 + static_cast<uint64_t>(l.a_at) * 4;
    const Strides3 strides = l.packed ? Strides3{} : Strides3{l.s1, l.s2};
    return deltanet_gates(*dev.ops, r, DeviceSpan{hb.get(), b_off, host_bytes - b_off}, strides,
                          DeviceSpan{hb.get(), a_off, host_bytes - a_off}, strides, l.ne0, l.ne1,
                          l.n_tokens, span_of(ab.get(), 12), span_of(db.get(), 4), span_of(beta_b.get(), 4),
                          span_of(gb.get()));
  });
  if (!run(rec)) return;
  PETREL_CHECK(within_ulps(read_back<float>(*dev.ctx, *beta_b, beta.size(), 4), beta, "beta"));
  PETREL_CHECK(within_ulps(read_back<float>(*dev.ctx, *gb, g.size()), g, "g"));
}

PETREL_TEST(vulkan_deltanet_gates_packed_match_cpu) {
  NEED_DEVICE();
  // qwen35: b and alpha {Hv, 1, n} from their own projections, packed (zero strides). Enough
  // tokens for several workgroups, and a decode step.
  for (int64_t n_tokens : {1, 37}) {
    const int64_t hv = 32;
    check_layout(dev, Layout{hv, 1, n_tokens, hv, hv, 0, hv * n_tokens, 2 * hv * n_tokens, true}, 41 + n_tokens);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_deltanet_gates_grouped_rows_match_cpu) {
  NEED_DEVICE();
  // qwen3next: per token the ssm_ba row of 2 Hv floats holds, per key head, [b (r) | alpha (r)]:
  // b and alpha are views {r, Hk, n} of the one buffer, strides 2r and 2 Hv, alpha r floats on.
  for (int64_t n_tokens : {1, 29}) {
    const int64_t hk = 4, r = 3, hv = hk * r;
    check_layout(dev, Layout{r, hk, n_tokens, 2 * r, 2 * hv, 0, r, 2 * hv * n_tokens, false}, 43 + n_tokens);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// A dense sweep of b and of alpha + dt_bias over [-40, 40] (dt_bias 0, ssm_a -1: g is
// -softplus(alpha)), with every float in [20 - 2^-16, 20 + 2^-16] among them.
PETREL_TEST(vulkan_deltanet_gates_sweep_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  const int64_t heads = 1024, n_tokens = 96, n = heads * n_tokens;
  std::vector<float> x(static_cast<size_t>(n));
  float near20 = 20.0f - 0x1p-16f;
  for (int64_t i = 0; i < n; ++i) {
    if (i % 4 == 0 && near20 <= 20.0f + 0x1p-16f) {
      x[static_cast<size_t>(i)] = near20;
      near20 = std::nextafter(near20, 30.0f);
    } else {
      x[static_cast<size_t>(i)] = -40.0f + 80.0f * static_cast<float>(i) / static_cast<float>(n);
    }
  }
  std::vector<float> ssm_a(static_cast<size_t>(heads), -1.0f), dt(static_cast<size_t>(heads), 0.0f);
  std::vector<float> beta(x.size()), g(x.size());
  const Tensor xt = cpu->wrap_host(x.data(), Tensor::contiguous(GgmlType::F32, heads, 1, n_tokens));
  cpu->deltanet_gates(xt, xt, cpu->wrap_host(ssm_a.data(), Tensor::contiguous(GgmlType::F32, heads)),
                      cpu->wrap_host(dt.data(), Tensor::contiguous(GgmlType::F32, heads)),
                      cpu->wrap_host(beta.data(), Tensor::contiguous(GgmlType::F32, heads, n_tokens)),
                      cpu->wrap_host(g.data(), Tensor::contiguous(GgmlType::F32, heads, n_tokens)));
  auto xb = buffer_of(*dev.ctx, x);
  auto ab = buffer_of(*dev.ctx, ssm_a);
  auto db = buffer_of(*dev.ctx, dt);
  auto beta_b = buffer_of(*dev.ctx, beta);
  auto gb = buffer_of(*dev.ctx, g);
  PETREL_CHECK(xb && ab && db && beta_b && gb);
  if (!(xb && ab && db && beta_b && gb)) return;
  auto rec = record(dev, [&](Recording& r) {
    return deltanet_gates(*dev.ops, r, span_of(xb.get()), Strides3{}, span_of(xb.get()), Strides3{}, heads, 1, n_tokens,
                          span_of(ab.get()), span_of(db.get()), span_of(beta_b.get()), span_of(gb.get()));
  });
  if (!run(rec)) return;
  const auto beta_got = read_back<float>(*dev.ctx, *beta_b, beta.size());
  const auto g_got = read_back<float>(*dev.ctx, *gb, g.size());
  PETREL_CHECK(within_ulps(beta_got, beta, "beta"));
  PETREL_CHECK(within_ulps(g_got, g, "g"));
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_deltanet_gates_refuses_short_operands) {
  NEED_DEVICE();
  auto b = buffer_of(*dev.ctx, std::vector<float>(64));
  auto out = buffer_of(*dev.ctx, std::vector<float>(128));
  PETREL_CHECK(b && out);
  if (!(b && out)) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan whole = span_of(b.get()), heads{b.get(), 0, 16};
  const DeviceSpan beta{out.get(), 0, 256}, g{out.get(), 256, 256};
  // 4 heads x 16 tokens fit packed; a token stride of 5 floats does not, nor a negative stride,
  // nor outputs short of a token.
  PETREL_CHECK(deltanet_gates(*dev.ops, *rec, whole, Strides3{}, whole, Strides3{}, 4, 1, 16, heads, heads, beta, g).ok());
  PETREL_CHECK(!deltanet_gates(*dev.ops, *rec, whole, Strides3{0, 5}, whole, Strides3{}, 4, 1, 16, heads, heads, beta,
                               g).ok());
  PETREL_CHECK(!deltanet_gates(*dev.ops, *rec, whole, Strides3{-1, 0}, whole, Strides3{}, 2, 2, 16, heads, heads, beta,
                               g).ok());
  PETREL_CHECK(!deltanet_gates(*dev.ops, *rec, whole, Strides3{}, whole, Strides3{}, 4, 1, 16, heads, heads, beta,
                               DeviceSpan{out.get(), 256, 252}).ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
