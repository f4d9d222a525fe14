// The prefill product on NV cooperative matrices (ops_matmul_coopmat.h) against a float64 product of
// the reference-dequantized weights and against the portable mat_mat, and matmul's choice of it.
// Runs where the device has VK_NV_cooperative_matrix (NVIDIA); elsewhere each case but the last
// is skipped (lavapipe: test/expected-skips.json lists them).
//
// Tolerance: the shader rounds each dequantized weight and each activation to fp16 once. Vulkan
// leaves the rounding mode of a float-to-half conversion to the device (to nearest or toward
// zero), so a normal value is within u = 2^-10 of itself relatively and a subnormal one (below
// 2^-14) within 2^-24 absolutely. A product term w' x' is then within (2u + u^2) |w x| +
// 2^-24 (1 + u) (|w| + |x|) of w x, and the fp32 accumulation adds the float product's own error
// (kProductTolerance of the sum of |w x|, as the other weight tests allow). Summed over the row:
//   |y - W x| <= (2^-9 + 2^-20 + kProductTolerance) sum |w x| + 2^-24 (1 + 2^-10) sum (|w| + |x|).
#include <cmath>
#include <string>

#include "backend/vulkan/ops_matmul.h"
#include "backend/vulkan/ops_matmul_coopmat.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

std::string no_coopmat_reason(const DeviceInfo& info) {
  if (info.name.find("llvmpipe") != std::string::npos) return "lavapipe has no cooperative matrices";
  return "the device has no NV cooperative matrices (or PETREL_VULKAN_NO_COOPMAT is set)";
}

#define NEED_COOPMAT()                                                \
  NEED_DEVICE();                                                      \
  if (!mat_mat_coopmat_supports(*dev.ctx, GgmlType::Q4_K)) {          \
    test::skip(no_coopmat_reason(dev.ctx->info()));                   \
    return;                                                           \
  }

// The product of the shape `c` with `op` (mat_mat_coopmat, mat_mat or matmul), the weight 4 bytes
// and x 12 bytes into their buffers (offsets below the binding alignment). *labels: the shader of
// each recorded command.
template <typename Op>
std::vector<float> run_product(Device& dev, Op op, const WeightCase& c, const std::vector<float>& x, int64_t n_tokens,
                               std::vector<std::string>* labels = nullptr) {
  auto wb = buffer_at(*dev.ctx, c.bytes.data(), c.bytes.size(), 4);
  auto xb = buffer_at(*dev.ctx, x.data(), x.size() * 4, 12);
  auto yb = device_buffer(*dev.ctx, nullptr, static_cast<uint64_t>(n_tokens * c.rows) * 4);
  PETREL_CHECK(wb && xb && yb);
  if (!(wb && xb && yb)) return {};
  const bool ok = run_op(dev, [&](Recording& rec) {
    const Status st = op(*dev.ops, rec, c.type, DeviceSpan{wb.get(), 4, c.bytes.size()}, c.rows, c.cols,
                         DeviceSpan{xb.get(), 12, x.size() * 4}, n_tokens, DeviceSpan{yb.get(), 0, yb->size()});
    if (labels != nullptr) {
      for (size_t i = 0; i < rec.commands(); ++i) labels->push_back(rec.command_label(i));
    }
    return st;
  });
  if (!ok) return {};
  return read_floats(dev, *yb, static_cast<size_t>(n_tokens * c.rows));
}

// The fp16 bound of the header for each result, beside the float64 product.
struct Fp16Bound {
  Expected exact;
  std::vector<double> bound;
};

Fp16Bound fp16_bound(const WeightCase& c, const std::vector<float>& x, int64_t n_tokens) {
  Fp16Bound b{product(c, x.data(), n_tokens), std::vector<double>(static_cast<size_t>(n_tokens * c.rows))};
  const double rel = std::ldexp(1.0, -9) + std::ldexp(1.0, -20) + kProductTolerance;
  const double abs = std::ldexp(1.0, -24) * (1 + std::ldexp(1.0, -10));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double sum_abs = 0;
      for (int64_t k = 0; k < c.cols; ++k) {
        sum_abs += std::fabs(static_cast<double>(c.values[r * c.cols + k])) + std::fabs(x[t * c.cols + k]);
      }
      const size_t i = static_cast<size_t>(t * c.rows + r);
      b.bound[i] = rel * b.exact.magnitude[i] + abs * sum_abs;
    }
  }
  return b;
}

// |got - want| within the fp16 bound (plus `extra` of the magnitude) everywhere; prints the relative
// RMS error against the float64 product, so the device log shows how far inside the bound it is.
bool within_fp16_bound(const std::vector<float>& got, const std::vector<double>& want, const Fp16Bound& b,
                       const WeightCase& c, int64_t n_tokens, const char* what, double extra = 0) {
  bool ok = got.size() == want.size();
  double err2 = 0, ref2 = 0, worst = 0;
  for (size_t i = 0; ok && i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double bound = b.bound[i] + extra * b.exact.magnitude[i];
    if (!(err <= bound)) {
      std::fprintf(stderr, "  element %zu: got %.9g, want %.9g (bound %.3g)\n", i, got[i], want[i], bound);
      ok = false;
    }
    err2 += err * err;
    ref2 += want[i] * want[i];
    worst = std::max(worst, bound > 0 ? err / bound : 0.0);
  }
  std::printf("  %s %s, %lld x %lld, %lld tokens: relative RMS error %.2e, worst %.3f of the bound\n", what,
              type_name(c.type).c_str(), static_cast<long long>(c.rows), static_cast<long long>(c.cols),
              static_cast<long long>(n_tokens), ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0, worst);
  if (!ok) std::fprintf(stderr, "  (%zu results, want %zu)\n", got.size(), want.size());
  return ok;
}

bool coopmat_matches(Device& dev, const WeightCase& c, const std::vector<float>& x, int64_t n_tokens) {
  const Fp16Bound b = fp16_bound(c, x, n_tokens);
  return within_fp16_bound(run_product(dev, mat_mat_coopmat, c, x, n_tokens), b.exact.y, b, c, n_tokens,
                           "coopmat vs float64");
}

// Every type, 70 rows: a full and a partial tile of rows; 9 tokens (the fewest matmul gives it) and
// 70 (a full and a partial tile of tokens); the row lengths of weight_shapes() (a partial last
// 64-column step for most, a partial unit for the float types, rows starting inside a word).
PETREL_TEST(vulkan_mat_mat_coopmat_matches_reference_for_each_type) {
  NEED_COOPMAT();
  Rng rng(61);
  for (const TypeShape& shape : weight_shapes()) {
    const WeightCase c = weight_case(rng, shape.type, 70, shape.cols);
    for (int64_t n_tokens : {9, 70}) {
      const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
      PETREL_CHECK(coopmat_matches(dev, c, x, n_tokens));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// The Q4_K_M types at a prefill's 512 tokens (8 full token tiles) and 130 rows (a partial third
// tile of rows).
PETREL_TEST(vulkan_mat_mat_coopmat_matches_reference_at_512_tokens) {
  NEED_COOPMAT();
  Rng rng(62);
  for (const TypeShape shape : {TypeShape{GgmlType::Q4_K, 768}, TypeShape{GgmlType::Q6_K, 512},
                                TypeShape{GgmlType::Q8_0, 160}, TypeShape{GgmlType::Q5_0, 96},
                                TypeShape{GgmlType::F16, 1031}}) {
    const WeightCase c = weight_case(rng, shape.type, 130, shape.cols);
    const auto x = random_floats(rng, static_cast<size_t>(512 * c.cols));
    PETREL_CHECK(coopmat_matches(dev, c, x, 512));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// Edges: exactly one tile and exactly two each way; one row; rows and tokens one past a tile;
// rows shorter than one 64-column step (32 and 96 Q8_0 values).
PETREL_TEST(vulkan_mat_mat_coopmat_handles_tile_edges) {
  NEED_COOPMAT();
  Rng rng(63);
  struct Shape {
    GgmlType type;
    int64_t rows, cols, n_tokens;
  };
  for (const Shape s : {Shape{GgmlType::Q4_K, 64, 256, 64}, Shape{GgmlType::Q4_K, 128, 512, 128},
                        Shape{GgmlType::Q6_K, 1, 256, 9}, Shape{GgmlType::Q4_K, 65, 256, 65},
                        Shape{GgmlType::Q8_0, 33, 32, 100}, Shape{GgmlType::Q8_0, 64, 96, 63},
                        Shape{GgmlType::F16, 7, 5, 17}}) {
    const WeightCase c = weight_case(rng, s.type, s.rows, s.cols);
    const auto x = random_floats(rng, static_cast<size_t>(s.n_tokens * c.cols));
    PETREL_CHECK(coopmat_matches(dev, c, x, s.n_tokens));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// 57 rows per binding: splits inside a tile, the second one inside a word (210-byte Q6_K rows,
// 198-byte rows of 22-byte Q5_0 blocks); three dispatches, as mat_mat's.
PETREL_TEST(vulkan_mat_mat_coopmat_splits_a_weight_larger_than_one_binding) {
  NEED_COOPMAT();
  Rng rng(64);
  const uint64_t saved = dev.ops->max_binding_bytes();
  for (const TypeShape shape : {TypeShape{GgmlType::Q6_K, 256}, TypeShape{GgmlType::Q5_0, 288}}) {
    const WeightCase c = weight_case(rng, shape.type, 130, shape.cols);
    dev.ops->set_max_binding_bytes(binding_for_rows(dev, 57, c.row_bytes()));
    const auto x = random_floats(rng, static_cast<size_t>(20 * c.cols));  // x fits one binding
    std::vector<std::string> labels;
    const Fp16Bound b = fp16_bound(c, x, 20);
    PETREL_CHECK(within_fp16_bound(run_product(dev, mat_mat_coopmat, c, x, 20, &labels), b.exact.y, b, c, 20,
                                   "coopmat split vs float64"));
    PETREL_CHECK_EQ(labels.size(), 3u);
  }
  dev.ops->set_max_binding_bytes(saved);
  CHECK_NO_VALIDATION_MESSAGES();
}

// Against the portable product on a prefill shape: the two differ by the fp16 rounding only (the
// bound, plus the portable product's own float error).
PETREL_TEST(vulkan_mat_mat_coopmat_agrees_with_mat_mat) {
  NEED_COOPMAT();
  Rng rng(65);
  for (const TypeShape shape : {TypeShape{GgmlType::Q4_K, 1024}, TypeShape{GgmlType::Q6_K, 768}}) {
    const WeightCase c = weight_case(rng, shape.type, 200, shape.cols);
    const auto x = random_floats(rng, static_cast<size_t>(512 * c.cols));
    const auto portable = run_product(dev, mat_mat, c, x, 512);
    const auto coop = run_product(dev, mat_mat_coopmat, c, x, 512);
    PETREL_CHECK(!portable.empty());
    const Fp16Bound b = fp16_bound(c, x, 512);
    const std::vector<double> want(portable.begin(), portable.end());
    PETREL_CHECK(within_fp16_bound(coop, want, b, c, 512, "coopmat vs mat_mat", kProductTolerance));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// matmul takes the cooperative-matrix product from kMatVecMaxTokens + 1 tokens on: one
// mul_mat_coopmat dispatch, the same results bit for bit.
PETREL_TEST(vulkan_matmul_takes_the_coopmat_product_for_prefill) {
  NEED_COOPMAT();
  Rng rng(66);
  const WeightCase c = weight_case(rng, GgmlType::Q4_K, 70, 512);
  for (int64_t n_tokens : {kMatVecMaxTokens + 1, int64_t{70}}) {
    const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
    std::vector<std::string> labels;
    const auto got = run_product(dev, matmul, c, x, n_tokens, &labels);
    PETREL_CHECK_EQ(labels.size(), 1u);
    PETREL_CHECK(!labels.empty() && labels[0] == "mul_mat_coopmat_q4_K");
    PETREL_CHECK(got == run_product(dev, mat_mat_coopmat, c, x, n_tokens));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// Runs on every device: what the device offers is printed; without NV cooperative matrices
// mat_mat_coopmat refuses (recording nothing) and matmul keeps the portable product; with them,
// bad shapes and a type without a shader are refused.
PETREL_TEST(vulkan_mat_mat_coopmat_refuses_what_it_cannot_run) {
  NEED_DEVICE();
  const DeviceInfo& info = dev.ctx->info();
  std::printf("  NV cooperative matrices: %s (KHR: %s); NV subgroup shapes:", info.coopmat_nv ? "on" : "off",
              info.cooperative_matrix ? "on" : "off");
  for (const CoopMatShape& s : info.coopmat_nv_shapes) {
    std::printf(" %ux%ux%u(%u,%u->%u,%u)", s.m, s.n, s.k, s.a_type, s.b_type, s.c_type, s.result_type);
  }
  std::printf("%s\n", info.coopmat_nv_shapes.empty() ? " none" : "");
  auto b = device_buffer(*dev.ctx, nullptr, 65536);
  PETREL_CHECK(b != nullptr);
  if (!b) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan all{b.get(), 0, 65536};
  VulkanOps& ops = *dev.ops;
  PETREL_CHECK_EQ(mat_mat_coopmat(ops, *rec, GgmlType::IQ2_XXS, all, 1, 256, all, 9, all).code(),
                  StatusCode::unsupported);
  if (!info.coopmat_nv) {
    PETREL_CHECK(!mat_mat_coopmat_supports(*dev.ctx, GgmlType::Q4_K));
    PETREL_CHECK_EQ(mat_mat_coopmat(ops, *rec, GgmlType::Q4_K, all, 8, 256, all, 9, all).code(),
                    StatusCode::unsupported);
    PETREL_CHECK_EQ(rec->commands(), 0u);
    PETREL_CHECK(matmul(ops, *rec, GgmlType::Q4_K, all, 8, 256, all, 9, all).ok());
    PETREL_CHECK_EQ(rec->commands(), 1u);
    PETREL_CHECK(rec->commands() == 1u && std::string(rec->command_label(0)) == "mul_mat_q4_K");
  } else {
    // Rows not whole blocks; no tokens; a weight larger than its span.
    PETREL_CHECK_EQ(mat_mat_coopmat(ops, *rec, GgmlType::Q4_0, all, 1, 48, all, 9, all).code(),
                    StatusCode::invalid_argument);
    PETREL_CHECK_EQ(mat_mat_coopmat(ops, *rec, GgmlType::Q4_K, all, 8, 256, all, 0, all).code(),
                    StatusCode::invalid_argument);
    PETREL_CHECK_EQ(mat_mat_coopmat(ops, *rec, GgmlType::F32, all, 1000, 1000, all, 9, all).code(),
                    StatusCode::invalid_argument);
    PETREL_CHECK_EQ(rec->commands(), 0u);
  }
  PETREL_CHECK(rec->finish().ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
