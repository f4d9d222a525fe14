// rms_norm, gate_mul and add shaders against float64 references.
#include <cmath>

#include "backend/vulkan/ops_elementwise.h"
#include "tests/vulkan/vulkan_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

PETREL_TEST(vulkan_rms_norm_matches_reference) {
  NEED_DEVICE();
  Rng rng(2);
  for (int64_t cols : {1, 7, 128, 1000, 2048}) {
    const int64_t rows = 5;
    const auto x = random_floats(rng, static_cast<size_t>(rows * cols), 3.0f);
    const auto w = random_floats(rng, static_cast<size_t>(cols));
    const float eps = 1e-6f;
    // x starts 12 bytes into its buffer: an offset below the device's binding alignment.
    std::vector<float> x_padded(3);
    x_padded.insert(x_padded.end(), x.begin(), x.end());
    auto xb = device_buffer(*dev.ctx, x_padded.data(), x_padded.size() * 4);
    auto wb = device_buffer(*dev.ctx, w.data(), w.size() * 4);
    auto yb = device_buffer(*dev.ctx, nullptr, x.size() * 4);
    PETREL_CHECK(xb && wb && yb);
    if (!(xb && wb && yb)) return;
    std::unique_ptr<Recording> rec;
    PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
    PETREL_CHECK(rms_norm(*dev.ops, *rec, {xb.get(), 12, x.size() * 4}, {wb.get(), 0, w.size() * 4},
                                   {yb.get(), 0, x.size() * 4}, rows, cols, eps).ok());
    PETREL_CHECK(rec->finish().ok());
    PETREL_CHECK(rec->run().ok());
    std::vector<float> y(x.size());
    PETREL_CHECK(download(*dev.ctx, *yb, 0, y.data(), y.size() * 4).ok());
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t c = 0; c < cols; ++c) ss += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
      const double scale = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * scale * w[c];
    }
    PETREL_CHECK(close(y, want, 1e-5));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// More rows than one grid dimension holds on many devices (65535): the per-head norms of a long
// prefill (4096 tokens x 16 heads) are that many rows.
PETREL_TEST(vulkan_rms_norm_rows_past_one_grid_dimension) {
  NEED_DEVICE();
  Rng rng(7);
  const int64_t rows = 70000, cols = 4;
  const auto x = random_floats(rng, static_cast<size_t>(rows * cols));
  const std::vector<float> w{1.0f, 2.0f, 0.5f, -1.0f};
  auto xb = device_buffer(*dev.ctx, x.data(), x.size() * 4);
  auto wb = device_buffer(*dev.ctx, w.data(), w.size() * 4);
  auto yb = device_buffer(*dev.ctx, nullptr, x.size() * 4);
  PETREL_CHECK(xb && wb && yb);
  if (!(xb && wb && yb)) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  PETREL_CHECK(rms_norm(*dev.ops, *rec, {xb.get(), 0, x.size() * 4}, {wb.get(), 0, 16}, {yb.get(), 0, x.size() * 4},
                        rows, cols, 1e-6f).ok());
  PETREL_CHECK(rec->finish().ok());
  PETREL_CHECK(rec->run().ok());
  std::vector<float> y(x.size());
  PETREL_CHECK(download(*dev.ctx, *yb, 0, y.data(), y.size() * 4).ok());
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += static_cast<double>(x[r * cols + c]) * x[r * cols + c];
    const double scale = 1.0 / std::sqrt(ss / cols + 1e-6);
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * scale * w[c];
  }
  PETREL_CHECK(close(y, want, 1e-5));
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_gate_mul_and_add_match_reference) {
  NEED_DEVICE();
  Rng rng(3);
  const int64_t n = 70000;  // more than one row of workgroups on no device, but not a multiple of 256
  const auto g = random_floats(rng, n, 4.0f);
  const auto x = random_floats(rng, n);
  auto gb = device_buffer(*dev.ctx, g.data(), n * 4);
  auto xb = device_buffer(*dev.ctx, x.data(), n * 4);
  auto yb = device_buffer(*dev.ctx, nullptr, n * 4);
  PETREL_CHECK(gb && xb && yb);
  if (!(gb && xb && yb)) return;
  for (GateActivation act : {GateActivation::silu, GateActivation::sigmoid}) {
    std::unique_ptr<Recording> rec;
    PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
    PETREL_CHECK(gate_mul(*dev.ops, *rec, act, {gb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, n).ok());
    PETREL_CHECK(rec->finish().ok());
    PETREL_CHECK(rec->run().ok());
    std::vector<float> y(n);
    PETREL_CHECK(download(*dev.ctx, *yb, 0, y.data(), n * 4).ok());
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) {
      const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g[i])));
      want[i] = (act == GateActivation::silu ? g[i] * s : s) * x[i];
    }
    PETREL_CHECK(close(y, want, 1e-5));
  }
  // y = g + x, written over g (the residual add updates its input in place).
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  PETREL_CHECK(add(*dev.ops, *rec, {gb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {gb.get(), 0, n * 4}, n).ok());
  PETREL_CHECK(rec->finish().ok());
  PETREL_CHECK(rec->run().ok());
  std::vector<float> y(n);
  PETREL_CHECK(download(*dev.ctx, *gb, 0, y.data(), n * 4).ok());
  bool exact = true;
  for (int64_t i = 0; i < n; ++i) exact = exact && y[i] == g[i] + x[i];
  PETREL_CHECK(exact);
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
