// Matrix-vector and matrix-matrix shaders against float64 products of the reference-dequantized
// weights, for every weight type.
#include <cmath>

#include "backend/vulkan/ops_matmul.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// A row length per type that reaches an edge of the shaders: a partial last unit (float types),
// rows that start inside a word (Q4_0 with 3 blocks, Q8_0 with 5, Q6_K with 3 super-blocks, F16
// and BF16 with an odd count), and from 1 to 64 invocations per row.
struct TypeShape {
  GgmlType type;
  int64_t cols;
};
const TypeShape kShapes[] = {
    {GgmlType::F32, 45},    {GgmlType::F16, 1031},  {GgmlType::BF16, 69},
    {GgmlType::Q4_0, 96},   {GgmlType::Q8_0, 160},  {GgmlType::Q4_K, 768},
    {GgmlType::Q5_K, 512},  {GgmlType::Q6_K, 768},  {GgmlType::IQ4_XS, 2048},
};

// The device's y = W x for x [n_tokens][c.cols], with w 4 bytes and x 12 bytes into their buffers
// (offsets below the binding alignment). `op` is mat_vec, mat_mat or matmul.
template <typename Op>
std::vector<float> run_product(Device& dev, Op op, const WeightCase& c, const std::vector<float>& x, int64_t n_tokens,
                               size_t* commands = nullptr) {
  auto wb = buffer_at(*dev.ctx, c.bytes.data(), c.bytes.size(), 4);
  auto xb = buffer_at(*dev.ctx, x.data(), x.size() * 4, 12);
  auto yb = device_buffer(*dev.ctx, nullptr, static_cast<uint64_t>(n_tokens * c.rows) * 4);
  PETREL_CHECK(wb && xb && yb);
  if (!(wb && xb && yb)) return {};
  const bool ok = run_op(dev, [&](Recording& rec) {
    return op(*dev.ops, rec, c.type, DeviceSpan{wb.get(), 4, c.bytes.size()}, c.rows, c.cols,
              DeviceSpan{xb.get(), 12, x.size() * 4}, n_tokens, DeviceSpan{yb.get(), 0, yb->size()});
  }, commands);
  if (!ok) return {};
  return read_floats(dev, *yb, static_cast<size_t>(n_tokens * c.rows));
}

bool product_matches(const std::vector<float>& got, const WeightCase& c, const std::vector<float>& x,
                     int64_t n_tokens) {
  if (!got.empty() && matches(got, product(c, x.data(), n_tokens))) return true;
  std::fprintf(stderr, "  %s, %lld x %lld, %lld tokens\n", type_name(c.type).c_str(), static_cast<long long>(c.rows),
               static_cast<long long>(c.cols), static_cast<long long>(n_tokens));
  return false;
}

PETREL_TEST(vulkan_mat_vec_matches_reference_for_each_type) {
  NEED_DEVICE();
  Rng rng(4);
  for (const TypeShape& shape : kShapes) {
    const WeightCase c = weight_case(rng, shape.type, 37, shape.cols);  // 37: no multiple of rows per workgroup
    for (int64_t n_tokens : {1, 3, 8}) {
      const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
      PETREL_CHECK(product_matches(run_product(dev, mat_vec, c, x, n_tokens), c, x, n_tokens));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_vec_splits_a_weight_larger_than_one_binding) {
  NEED_DEVICE();
  Rng rng(5);
  const uint64_t saved = dev.ops->max_binding_bytes();
  dev.ops->set_max_binding_bytes(8192);  // x (4 KiB) still fits one binding
  // 288-byte rows (28 per binding); 420-byte rows, every other one starting inside a word; 602-byte
  // rows of odd length.
  for (const TypeShape shape : {TypeShape{GgmlType::Q4_K, 512}, TypeShape{GgmlType::Q6_K, 512},
                                TypeShape{GgmlType::F16, 301}}) {
    const WeightCase c = weight_case(rng, shape.type, 70, shape.cols);
    const auto x = random_floats(rng, static_cast<size_t>(2 * c.cols));
    size_t commands = 0;
    PETREL_CHECK(product_matches(run_product(dev, mat_vec, c, x, 2, &commands), c, x, 2));
    PETREL_CHECK(commands >= 3);
  }
  dev.ops->set_max_binding_bytes(saved);
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_mat_matches_reference_for_each_type) {
  NEED_DEVICE();
  Rng rng(6);
  for (const TypeShape& shape : kShapes) {
    // 70 rows and 70 tokens: a full and a partial tile each way; 1 token: a tile almost empty.
    const WeightCase c = weight_case(rng, shape.type, 70, shape.cols);
    for (int64_t n_tokens : {1, 70}) {
      const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
      PETREL_CHECK(product_matches(run_product(dev, mat_mat, c, x, n_tokens), c, x, n_tokens));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_mat_splits_a_weight_larger_than_one_binding) {
  NEED_DEVICE();
  Rng rng(7);
  const uint64_t saved = dev.ops->max_binding_bytes();
  // 57 rows of 210 bytes per binding: splits inside a tile, the second one inside a word.
  dev.ops->set_max_binding_bytes(12100);
  const WeightCase c = weight_case(rng, GgmlType::Q6_K, 130, 256);
  const auto x = random_floats(rng, static_cast<size_t>(9 * c.cols));
  size_t commands = 0;
  PETREL_CHECK(product_matches(run_product(dev, mat_mat, c, x, 9, &commands), c, x, 9));
  PETREL_CHECK_EQ(commands, 3u);
  dev.ops->set_max_binding_bytes(saved);
  CHECK_NO_VALIDATION_MESSAGES();
}

// matmul takes mat_vec up to 8 tokens and mat_mat from 9; both sides of the switch match.
PETREL_TEST(vulkan_matmul_matches_reference_on_both_sides_of_its_switch) {
  NEED_DEVICE();
  Rng rng(8);
  const WeightCase c = weight_case(rng, GgmlType::Q4_K, 37, 512);
  for (int64_t n_tokens : {kMatVecMaxTokens, kMatVecMaxTokens + 1}) {
    const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
    PETREL_CHECK(product_matches(run_product(dev, matmul, c, x, n_tokens), c, x, n_tokens));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_weight_ops_refuse_bad_shapes_and_types) {
  NEED_DEVICE();
  auto b = device_buffer(*dev.ctx, nullptr, 4096);
  PETREL_CHECK(b != nullptr);
  if (!b) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan all{b.get(), 0, 4096}, word{b.get(), 0, 4};
  VulkanOps& ops = *dev.ops;
  // A type without shaders; rows not whole blocks; a weight larger than its span; too few ids,
  // outputs or slots.
  PETREL_CHECK_EQ(mat_mat(ops, *rec, GgmlType::Q2_K, all, 1, 256, all, 9, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(get_rows(ops, *rec, GgmlType::Q5_0, all, 1, 32, all, 1, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(mat_mat(ops, *rec, GgmlType::Q4_0, all, 1, 48, all, 9, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(matmul(ops, *rec, GgmlType::F32, all, 2, 1000, all, 1, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(get_rows(ops, *rec, GgmlType::F32, all, 8, 8, word, 2, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(get_rows(ops, *rec, GgmlType::F32, all, 8, 8, all, 2, word).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(mat_vec_id(ops, *rec, GgmlType::F32, all, 4, 4, 2, all, 1, 0, all, false, all).code(),
                  StatusCode::invalid_argument);
  PETREL_CHECK_EQ(mat_vec_id(ops, *rec, GgmlType::F32, all, 4, 4, 100, all, 1, 1, all, false, all).code(),
                  StatusCode::invalid_argument);
  PETREL_CHECK_EQ(rec->commands(), 0u);
  PETREL_CHECK(rec->finish().ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
