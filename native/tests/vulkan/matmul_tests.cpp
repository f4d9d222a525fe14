// Matrix-vector shaders against float64 products of the reference-dequantized weights.
#include <cmath>

#include "backend/vulkan/ops_matmul.h"
#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "tests/vulkan/vulkan_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// Q4_K rows of random values and float64 dot products of their dequantized values.
struct Q4KCase {
  int64_t rows, cols;
  std::vector<uint8_t> w;       // rows * cols / 256 blocks
  std::vector<float> w_values;  // dequantized, [rows][cols]
};

Q4KCase q4_K_case(Rng& rng, int64_t rows, int64_t cols) {
  Q4KCase c{rows, cols, std::vector<uint8_t>(static_cast<size_t>(rows * cols / 256) * sizeof(BlockQ4_K)),
            std::vector<float>(static_cast<size_t>(rows * cols))};
  const auto values = random_floats(rng, static_cast<size_t>(rows * cols));
  auto* blocks = reinterpret_cast<BlockQ4_K*>(c.w.data());
  ref::quantize_row_q4_K(values.data(), blocks, rows * cols);
  ref::dequantize_row_q4_K(blocks, c.w_values.data(), rows * cols);
  return c;
}

std::vector<double> mat_vec_reference(const Q4KCase& c, const std::vector<float>& x, int64_t n_tokens) {
  std::vector<double> y(static_cast<size_t>(n_tokens * c.rows));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double s = 0;
      for (int64_t k = 0; k < c.cols; ++k) s += static_cast<double>(c.w_values[r * c.cols + k]) * x[t * c.cols + k];
      y[t * c.rows + r] = s;
    }
  }
  return y;
}

// The device's y for c and x, or an empty vector when a step failed (the failure is reported).
std::vector<float> run_mat_vec(Device& dev, const Q4KCase& c, const std::vector<float>& x, int64_t n_tokens) {
  auto wb = device_buffer(*dev.ctx, c.w.data(), c.w.size());
  auto xb = device_buffer(*dev.ctx, x.data(), x.size() * 4);
  auto yb = device_buffer(*dev.ctx, nullptr, static_cast<uint64_t>(n_tokens * c.rows) * 4);
  PETREL_CHECK(wb && xb && yb);
  if (!(wb && xb && yb)) return {};
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const Status st = mat_vec(*dev.ops, *rec, GgmlType::Q4_K, {wb.get(), 0, c.w.size()}, c.rows, c.cols,
                                     {xb.get(), 0, x.size() * 4}, n_tokens, {yb.get(), 0, yb->size()});
  PETREL_CHECK(st.ok());
  PETREL_CHECK(rec->finish().ok());
  PETREL_CHECK(rec->run().ok());
  std::vector<float> y(static_cast<size_t>(n_tokens * c.rows));
  PETREL_CHECK(download(*dev.ctx, *yb, 0, y.data(), y.size() * 4).ok());
  return y;
}

PETREL_TEST(vulkan_mat_vec_q4_K_matches_reference) {
  NEED_DEVICE();
  Rng rng(4);
  for (int64_t n_tokens : {1, 3, 8}) {
    const Q4KCase c = q4_K_case(rng, 37, 768);
    const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
    const auto y = run_mat_vec(dev, c, x, n_tokens);
    // Float sums of 768 products of magnitude ~1: the order differs from the reference's.
    PETREL_CHECK(!y.empty() && close(y, mat_vec_reference(c, x, n_tokens), 1e-4));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_vec_splits_a_weight_larger_than_one_binding) {
  NEED_DEVICE();
  Rng rng(5);
  const Q4KCase c = q4_K_case(rng, 50, 512);  // 288 bytes per row
  const auto x = random_floats(rng, static_cast<size_t>(2 * c.cols));
  const uint64_t saved = dev.ops->max_binding_bytes();
  dev.ops->set_max_binding_bytes(4096);  // 14 rows per binding: four dispatches
  const auto y = run_mat_vec(dev, c, x, 2);
  dev.ops->set_max_binding_bytes(saved);
  PETREL_CHECK(!y.empty() && close(y, mat_vec_reference(c, x, 2), 1e-4));
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
