// moe_route and argmax shaders: ids exactly as the CPU backend's routing (cpu::route_token) and
// engine/sampler.cpp's argmax pick them (ties included); probabilities and weights within about
// ten times the largest difference measured on lavapipe, rounded up.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops/ops.h"
#include "backend/vulkan/ops_routing.h"
#include "tests/vulkan/sequence_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

PETREL_TEST(vulkan_moe_route_matches_reference) {
  NEED_DEVICE();
  Rng rng(41);
  struct Case {
    int32_t n_expert, k;
  };
  // Qwen3.5-35B-A3B's 256 experts, 8 used; and a count that leaves threads idle.
  for (const Case c : {Case{256, 8}, Case{60, 4}}) {
    const int32_t n_tokens = 4;
    auto logits = random_floats(rng, static_cast<size_t>(n_tokens * c.n_expert), 2.0f);
    // Row 1: all equal (the first k ids, equal weights); row 2: the top value at ids 9 and 3
    // (3 first), the next at 7 and 8.
    std::fill(logits.begin() + c.n_expert, logits.begin() + 2 * c.n_expert, 0.5f);
    float* r2 = logits.data() + 2 * c.n_expert;
    r2[9] = r2[3] = 20.0f;
    r2[7] = r2[8] = 19.0f;
    auto lb = buffer_of(*dev.ctx, logits, 4);
    auto ib = buffer_of(*dev.ctx, std::vector<int32_t>(static_cast<size_t>(n_tokens * c.k)));
    auto wb = buffer_of(*dev.ctx, std::vector<float>(static_cast<size_t>(n_tokens * c.k)), 12);
    auto pb = buffer_of(*dev.ctx, logits);
    PETREL_CHECK(lb && ib && wb && pb);
    if (!(lb && ib && wb && pb)) return;
    // The probabilities are an optional output: asked for in the first case only.
    const bool with_probs = c.n_expert == 256;
    auto rec = record(dev, [&](Recording& r) {
      return moe_route(*dev.ops, r, span_of(lb.get(), 4), n_tokens, c.n_expert, c.k,
                       with_probs ? span_of(pb.get()) : DeviceSpan{}, span_of(ib.get()), span_of(wb.get(), 12));
    });
    if (!run(rec)) return;
    std::vector<int32_t> want_ids(static_cast<size_t>(n_tokens * c.k));
    std::vector<float> want_w(want_ids.size()), want_p(logits.size());
    for (int32_t t = 0; t < n_tokens; ++t) {
      cpu::route_token(c.n_expert, c.k, logits.data() + t * c.n_expert, want_p.data() + t * c.n_expert,
                      want_ids.data() + t * c.k, want_w.data() + t * c.k);
    }
    PETREL_CHECK(want_ids[static_cast<size_t>(2 * c.k)] == 3 && want_ids[static_cast<size_t>(2 * c.k + 2)] == 7);
    PETREL_CHECK(read_back<int32_t>(*dev.ctx, *ib, want_ids.size()) == want_ids);
    PETREL_CHECK(close(read_back<float>(*dev.ctx, *wb, want_w.size(), 12), as_double(want_w), 1e-6));
    // Untouched (still the logits) when not asked for.
    PETREL_CHECK(with_probs ? close(read_back<float>(*dev.ctx, *pb, logits.size()), as_double(want_p), 1e-6)
                            : read_back<float>(*dev.ctx, *pb, logits.size()) == logits);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_argmax_picks_lowest_index_of_max) {
  NEED_DEVICE();
  Rng rng(42);
  for (int64_t n : {int64_t{70001}, int64_t{5}}) {
    const int64_t rows = 3;
    auto logits = random_floats(rng, static_cast<size_t>(rows * n));
    // Row 0: the maximum twice, the later copy in another thread's share; row 2: all equal.
    float* r0 = logits.data();
    r0[n - 1] = r0[n / 2 + 1] = 50.0f;
    std::fill(logits.begin() + 2 * n, logits.end(), -1.5f);
    auto lb = buffer_of(*dev.ctx, logits, 8);
    auto ib = buffer_of(*dev.ctx, std::vector<int32_t>(rows, -7), 4);
    PETREL_CHECK(lb && ib);
    if (!(lb && ib)) return;
    auto rec = record(dev, [&](Recording& r) {
      return argmax(*dev.ops, r, span_of(lb.get(), 8), rows, n, span_of(ib.get(), 4));
    });
    if (!run(rec)) return;
    std::vector<int32_t> want(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = logits.data() + r * n;
      want[static_cast<size_t>(r)] = static_cast<int32_t>(std::max_element(row, row + n) - row);  // the first maximum
    }
    PETREL_CHECK(want[0] == static_cast<int32_t>(n / 2 + 1) && want[2] == 0);
    PETREL_CHECK(read_back<int32_t>(*dev.ctx, *ib, rows, 4) == want);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
