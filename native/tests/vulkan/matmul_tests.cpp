// Matrix-vector and matrix-matrix shaders against float64 products of the reference-dequantized
// weights, for every weight type.
#include <cmath>

#include "backend/vulkan/ops_matmul.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

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
  for (const TypeShape& shape : weight_shapes()) {
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
  dev.ops->set_max_binding_bytes(8192);  // x (up to 6 KiB) still fits one binding
  // 288-byte rows (28 per binding); 420-byte rows, every other one starting inside a word; 602-byte
  // rows of odd length; 330-byte rows of 110-byte Q3_K blocks, every other one starting inside a
  // word; 342-byte rows of 18-byte IQ4_NL blocks, 23 per binding, so the second binding starts
  // inside a word too.
  for (const TypeShape shape : {TypeShape{GgmlType::Q4_K, 512}, TypeShape{GgmlType::Q6_K, 512},
                                TypeShape{GgmlType::F16, 301}, TypeShape{GgmlType::Q3_K, 768},
                                TypeShape{GgmlType::IQ4_NL, 608}}) {
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
  for (const TypeShape& shape : weight_shapes()) {
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
  // 57 rows per binding: splits inside a tile, the second one inside a word. 210-byte Q6_K rows;
  // 198-byte rows of 22-byte Q5_0 blocks.
  for (const TypeShape shape : {TypeShape{GgmlType::Q6_K, 256}, TypeShape{GgmlType::Q5_0, 288}}) {
    const WeightCase c = weight_case(rng, shape.type, 130, shape.cols);
    dev.ops->set_max_binding_bytes(binding_for_rows(dev, 57, c.row_bytes()));
    const auto x = random_floats(rng, static_cast<size_t>(9 * c.cols));
    size_t commands = 0;
    PETREL_CHECK(product_matches(run_product(dev, mat_mat, c, x, 9, &commands), c, x, 9));
    PETREL_CHECK_EQ(commands, 3u);
  }
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

// The shapes the weight tests run are one per type the shaders take: a type added to
// ops_matmul.cpp's table is tested by every weight test, or this fails.
PETREL_TEST(vulkan_weight_tests_cover_every_supported_type) {
  size_t count = 0;
  const GgmlTypeInfo* table = ggml_type_table(&count);
  size_t supported = 0;
  for (size_t i = 0; i < count; ++i) {
    const GgmlType t = table[i].type;
    size_t shapes = 0;
    for (const TypeShape& shape : weight_shapes()) shapes += shape.type == t ? 1 : 0;
    if (matmul_supports(t)) ++supported;
    if (shapes != (matmul_supports(t) ? 1u : 0u)) {
      std::fprintf(stderr, "  %s: %zu test shapes, %s\n", table[i].name, shapes,
                   matmul_supports(t) ? "supported" : "unsupported");
      PETREL_CHECK(false);
    }
  }
  PETREL_CHECK_EQ(supported, weight_shapes().size());
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
  // A type without shaders (one petrel's quantizer never writes); rows not whole blocks; a weight
  // larger than its span; too few ids, outputs or slots.
  PETREL_CHECK_EQ(mat_mat(ops, *rec, GgmlType::IQ2_XXS, all, 1, 256, all, 9, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(get_rows(ops, *rec, GgmlType::MXFP4, all, 1, 32, all, 1, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(mat_vec(ops, *rec, GgmlType::Q3_K, all, 1, 128, all, 1, all).code(), StatusCode::invalid_argument);
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
