// rope_neox and conv1d_silu shaders against the CPU backend's ops, and rms_norm in the per-head
// layout the attention and DeltaNet layers use it in.
#include <cmath>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/ops_conv.h"
#include "backend/vulkan/ops_elementwise.h"
#include "backend/vulkan/ops_rope.h"
#include "tests/vulkan/sequence_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// Bounds: about ten times the largest difference from the CPU measured on lavapipe, rounded up,
// so a GPU's own exp, cos and sin and its summation order pass and a wrong term does not.

PETREL_TEST(vulkan_rope_neox_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(11);
  struct Case {
    int64_t n_tokens, n_heads, head_dim, n_rot;
  };
  // Partial rotation as Qwen3.5 (64 of 256 dims), an odd pair count, and the whole head.
  for (const Case c : {Case{3, 2, 256, 64}, Case{4, 3, 40, 26}, Case{2, 2, 16, 16}}) {
    const size_t n = static_cast<size_t>(c.n_tokens * c.n_heads * c.head_dim);
    const auto x = random_floats(rng, n);
    // Positions far from zero: the angles need the reduction before cos/sin.
    std::vector<int32_t> pos{0, 4097, 262143, 131};
    pos.resize(static_cast<size_t>(c.n_tokens));
    auto xb = buffer_of(*dev.ctx, x, 12);
    auto pb = buffer_of(*dev.ctx, pos, 4);
    PETREL_CHECK(xb && pb);
    if (!(xb && pb)) return;
    auto rec = record(dev, [&](Recording& r) {
      return rope_neox(*dev.ops, r, span_of(xb.get(), 12), span_of(pb.get(), 4), c.n_tokens, c.n_heads, c.head_dim,
                       c.n_rot, 1e7f);
    });
    // Run twice: the second time with new positions written to device memory, the same recording.
    for (int step = 0; step < 2; ++step) {
      if (step == 1) {
        for (auto& p : pos) p += 1000;
        write(*dev.ctx, *pb, pos, 4);
        write(*dev.ctx, *xb, x, 12);
      }
      if (!run(rec)) return;
      const auto got = read_back<float>(*dev.ctx, *xb, n, 12);
      std::vector<float> want = x;
      cpu->rope_neox(want.data(), c.n_tokens, c.n_heads, c.head_dim, c.n_rot, pos.data(), 1e7f);
      PETREL_CHECK(close(got, as_double(want), 4e-6));
      bool untouched = true;  // dims n_rot.. pass through bit for bit
      for (size_t i = 0; i < n; ++i) {
        if (static_cast<int64_t>(i) % c.head_dim >= c.n_rot) untouched = untouched && got[i] == x[i];
      }
      PETREL_CHECK(untouched);
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_conv1d_silu_matches_cpu_decode_and_prefill) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(12);
  const int64_t channels = 37;  // not a multiple of the workgroup
  for (int64_t kernel : {4, 2}) {
    const auto w = random_floats(rng, static_cast<size_t>(channels * kernel), 0.5f);
    // Prefill lengths: shorter than the history (the state shifts), one block, several blocks.
    for (int64_t n_tokens : {1, 2, 16, 40}) {
      const size_t hist = static_cast<size_t>((kernel - 1) * channels);
      std::vector<float> state = random_floats(rng, hist);
      std::vector<float> x(static_cast<size_t>(n_tokens * channels));
      auto xb = buffer_of(*dev.ctx, x);
      auto wb = buffer_of(*dev.ctx, w, 8);
      auto sb = buffer_of(*dev.ctx, state, 4);
      auto yb = buffer_of(*dev.ctx, x);
      PETREL_CHECK(xb && wb && sb && yb);
      if (!(xb && wb && sb && yb)) return;
      auto rec = record(dev, [&](Recording& r) {
        return conv1d_silu(*dev.ops, r, span_of(xb.get()), span_of(wb.get(), 8), span_of(sb.get(), 4), n_tokens,
                           channels, kernel, span_of(yb.get()));
      });
      // Three steps of the same recording on new inputs: the state carries over on the device.
      for (int step = 0; step < 3; ++step) {
        x = random_floats(rng, x.size(), 2.0f);
        write(*dev.ctx, *xb, x);
        if (!run(rec)) return;
        std::vector<float> want(x.size());
        cpu->conv1d_silu(x.data(), w.data(), state.data(), n_tokens, channels, kernel, want.data());
        PETREL_CHECK(close(read_back<float>(*dev.ctx, *yb, x.size()), as_double(want), 2e-6));
        PETREL_CHECK(read_back<float>(*dev.ctx, *sb, hist, 4) == state);
      }
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// The per-head norms (q and k of attention, the DeltaNet output) are rms_norm over rows of one
// head each, every row scaled by the same weight vector.
PETREL_TEST(vulkan_rms_norm_per_head_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(13);
  const int64_t n_tokens = 3, n_heads = 5, head_dim = 256;
  const auto x = random_floats(rng, static_cast<size_t>(n_tokens * n_heads * head_dim), 2.0f);
  const auto w = random_floats(rng, static_cast<size_t>(head_dim));
  auto xb = buffer_of(*dev.ctx, x);
  auto wb = buffer_of(*dev.ctx, w);
  auto yb = buffer_of(*dev.ctx, x);
  PETREL_CHECK(xb && wb && yb);
  if (!(xb && wb && yb)) return;
  auto rec = record(dev, [&](Recording& r) {
    return rms_norm(*dev.ops, r, span_of(xb.get()), span_of(wb.get()), span_of(yb.get()), n_tokens * n_heads, head_dim,
                    1e-6f);
  });
  if (!run(rec)) return;
  std::vector<float> want(x.size());
  cpu->rms_norm(x.data(), w.data(), head_dim, n_tokens * n_heads, 1e-6f, want.data());
  PETREL_CHECK(close(read_back<float>(*dev.ctx, *yb, x.size()), as_double(want), 2e-6));
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
