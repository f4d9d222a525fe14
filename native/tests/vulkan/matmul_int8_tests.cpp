// The integer-dot decode products (ops_matmul_int8.h): the activations' q8_1 quantization, and
// each type's product against (a) a float64 product of the reference-dequantized weights with
// the activations as the device quantized them (read back from the scratch: exact up to float
// rounding) and (b) the float64 product with the float activations, within the bound the 8-bit
// activations imply: sum_c |W[r][c]| * d_block(c) / 2.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/vulkan/ops_matmul.h"
#include "backend/vulkan/ops_matmul_int8.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// The device's q8_1 blocks of x, dequantized: value c of token t is q * d.
struct Quantized {
  std::vector<float> values;   // [n_tokens][cols]
  std::vector<float> d;        // per block
  std::vector<int32_t> q;      // [n_tokens][cols]
  std::vector<float> d_sum;    // per block: d * sum(q), as the device wrote it
};

Quantized read_q8_1(Device& dev, const Buffer& b, int64_t cols, int64_t n_tokens) {
  const size_t n = static_cast<size_t>(cols * n_tokens), blocks = n / 32;
  std::vector<uint32_t> words(blocks * 10);
  PETREL_CHECK(download(*dev.ctx, b, 0, words.data(), words.size() * 4).ok());
  Quantized out{std::vector<float>(n), std::vector<float>(blocks), std::vector<int32_t>(n), std::vector<float>(blocks)};
  for (size_t i = 0; i < blocks; ++i) {
    std::memcpy(&out.d[i], &words[blocks * 8 + 2 * i], 4);
    std::memcpy(&out.d_sum[i], &words[blocks * 8 + 2 * i + 1], 4);
    for (size_t e = 0; e < 32; ++e) {
      const int8_t q = static_cast<int8_t>(words[8 * i + e / 4] >> (8 * (e % 4)));
      out.q[32 * i + e] = q;
      out.values[32 * i + e] = static_cast<float>(q) * out.d[i];
    }
  }
  return out;
}

struct Int8Run {
  std::vector<float> y;
  Quantized xq;
};

// mat_vec_int8 with the weight 4 bytes and x 12 bytes into their buffers; the scratch read back.
Int8Run run_int8(Device& dev, const WeightCase& c, const std::vector<float>& x, int64_t n_tokens,
                 size_t* commands = nullptr) {
  auto wb = buffer_at(*dev.ctx, c.bytes.data(), c.bytes.size(), 4);
  auto xb = buffer_at(*dev.ctx, x.data(), x.size() * 4, 12);
  auto yb = device_buffer(*dev.ctx, nullptr, static_cast<uint64_t>(n_tokens * c.rows) * 4);
  auto qb = device_buffer(*dev.ctx, nullptr, q8_1_bytes(c.cols, n_tokens));
  PETREL_CHECK(wb && xb && yb && qb);
  if (!(wb && xb && yb && qb)) return {};
  const bool ok = run_op(dev, [&](Recording& rec) {
    return mat_vec_int8(*dev.ops, rec, c.type, DeviceSpan{wb.get(), 4, c.bytes.size()}, c.rows, c.cols,
                        DeviceSpan{xb.get(), 12, x.size() * 4}, n_tokens, DeviceSpan{yb.get(), 0, yb->size()},
                        DeviceSpan{qb.get(), 0, qb->size()});
  }, commands);
  if (!ok) return {};
  return {read_floats(dev, *yb, static_cast<size_t>(n_tokens * c.rows)), read_q8_1(dev, *qb, c.cols, n_tokens)};
}

// How far the int8 products are from the float ones, over a run of cases.
struct Deviation {
  double worst_of_bound = 0;  // max |y - y_float| / bound
  double err2 = 0, ref2 = 0;  // sums of squares: error, reference
  void print(const char* what) const {
    std::printf("  %s: max |int8 - float| = %.3f of the 8-bit bound, relative RMS error %.2e\n", what,
                worst_of_bound, std::sqrt(err2 / ref2));
  }
};

// (b): |y - W x| <= sum_c |W[r][c]| * d(c) / 2 plus the float tolerance.
bool within_activation_bound(const std::vector<float>& y, const WeightCase& c, const std::vector<float>& x,
                             const Quantized& xq, int64_t n_tokens, Deviation* dev_stats) {
  const Expected exact = product(c, x.data(), n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double bound = 0;
      for (int64_t k = 0; k < c.cols; ++k) {
        bound += std::fabs(static_cast<double>(c.values[r * c.cols + k])) * xq.d[(t * c.cols + k) / 32] / 2;
      }
      const size_t i = static_cast<size_t>(t * c.rows + r);
      const double err = std::fabs(y[i] - exact.y[i]);
      if (!(err <= bound * (1 + 1e-5) + kProductTolerance * exact.magnitude[i])) {
        std::fprintf(stderr, "  %s token %lld row %lld: got %.9g, float product %.9g, bound %.3g\n",
                     type_name(c.type).c_str(), static_cast<long long>(t), static_cast<long long>(r), y[i],
                     exact.y[i], bound);
        return false;
      }
      dev_stats->worst_of_bound = std::max(dev_stats->worst_of_bound, bound > 0 ? err / bound : 0.0);
      dev_stats->err2 += err * err;
      dev_stats->ref2 += exact.y[i] * exact.y[i];
    }
  }
  return true;
}

#define NEED_INT_DOT()                                                          \
  NEED_DEVICE();                                                                \
  if (!dev.ctx->info().integer_dot_product) {                                   \
    test::skip("the device has no integer dot products (or they are turned off)"); \
    return;                                                                     \
  }

PETREL_TEST(vulkan_quantize_q8_1_rounds_each_block_to_its_scale) {
  NEED_INT_DOT();
  Rng rng(41);
  const int64_t cols = 256, n_tokens = 3;
  auto x = random_floats(rng, static_cast<size_t>(cols * n_tokens), 3.0f);
  for (size_t i = 64; i < 96; ++i) x[i] = 0.0f;  // a block of zeros: d = 0, q = 0
  auto xb = buffer_at(*dev.ctx, x.data(), x.size() * 4, 12);
  auto qb = device_buffer(*dev.ctx, nullptr, q8_1_bytes(cols, n_tokens));
  PETREL_CHECK(xb && qb);
  if (!(xb && qb)) return;
  PETREL_CHECK(run_op(dev, [&](Recording& rec) {
    return quantize_q8_1(*dev.ops, rec, DeviceSpan{xb.get(), 12, x.size() * 4}, cols, n_tokens,
                         DeviceSpan{qb.get(), 0, qb->size()});
  }));
  const Quantized q = read_q8_1(dev, *qb, cols, n_tokens);
  for (size_t b = 0; b < q.d.size(); ++b) {
    float amax = 0;
    int32_t sum = 0;
    for (size_t e = 0; e < 32; ++e) {
      amax = std::max(amax, std::fabs(x[32 * b + e]));
      sum += q.q[32 * b + e];
    }
    PETREL_CHECK(std::fabs(q.d[b] - amax / 127) <= 1e-6f * amax);
    for (size_t e = 0; e < 32; ++e) {
      // round(x / d): within half a step, up to the rounding of 1 / d.
      PETREL_CHECK(std::fabs(q.values[32 * b + e] - x[32 * b + e]) <= q.d[b] * 0.5f * (1 + 1e-5f));
    }
    PETREL_CHECK(std::fabs(q.d_sum[b] - q.d[b] * static_cast<float>(sum)) <= 1e-6f * std::fabs(q.d_sum[b]));
  }
  PETREL_CHECK_EQ(q.d[2], 0.0f);
  CHECK_NO_VALIDATION_MESSAGES();
}

// Row lengths as matmul_tests: Q4_0 with 3 blocks and Q6_K with 3 super-blocks start rows inside
// a word, Q8_0 with 5 blocks too; 37 rows is no multiple of the rows per workgroup.
struct TypeShape {
  GgmlType type;
  int64_t cols;
};
const TypeShape kInt8Shapes[] = {
    {GgmlType::Q4_0, 96}, {GgmlType::Q8_0, 160}, {GgmlType::Q4_K, 768}, {GgmlType::Q6_K, 768}, {GgmlType::Q4_K, 4096},
};

PETREL_TEST(vulkan_mat_vec_int8_matches_reference_for_each_type) {
  NEED_INT_DOT();
  Rng rng(42);
  for (const TypeShape& shape : kInt8Shapes) {
    const WeightCase c = weight_case(rng, shape.type, 37, shape.cols);
    Deviation d;
    for (int64_t n_tokens : {1, 3, 8}) {
      const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
      const Int8Run run = run_int8(dev, c, x, n_tokens);
      if (run.y.empty()) continue;
      // (a) the same product with the activations as quantized: float rounding only.
      const bool exact = matches(run.y, product(c, run.xq.values.data(), n_tokens));
      // (b) the float activations: within the 8-bit bound.
      const bool bounded = within_activation_bound(run.y, c, x, run.xq, n_tokens, &d);
      if (!(exact && bounded)) {
        std::fprintf(stderr, "  %s, %lld x %lld, %lld tokens\n", type_name(c.type).c_str(),
                     static_cast<long long>(c.rows), static_cast<long long>(c.cols), static_cast<long long>(n_tokens));
      }
      PETREL_CHECK(exact && bounded);
    }
    const std::string what = type_name(c.type) + " x " + std::to_string(c.cols);
    d.print(what.c_str());
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_vec_int8_splits_a_weight_larger_than_one_binding) {
  NEED_INT_DOT();
  Rng rng(43);
  const uint64_t saved = dev.ops->max_binding_bytes();
  dev.ops->set_max_binding_bytes(8192);  // 420-byte Q6_K rows: 19 per binding, every other inside a word
  const WeightCase c = weight_case(rng, GgmlType::Q6_K, 70, 512);
  const auto x = random_floats(rng, static_cast<size_t>(2 * c.cols));
  size_t commands = 0;
  const Int8Run run = run_int8(dev, c, x, 2, &commands);
  PETREL_CHECK(!run.y.empty() && matches(run.y, product(c, run.xq.values.data(), 2)));
  PETREL_CHECK_EQ(commands, 5u);  // the quantization and four row ranges
  dev.ops->set_max_binding_bytes(saved);
  CHECK_NO_VALIDATION_MESSAGES();
}

// matmul_with_scratch runs the int8 product when given scratch of matmul_scratch_bytes (two dispatches), the
// float one without scratch (one dispatch) and for more than kMatVecMaxTokens tokens.
PETREL_TEST(vulkan_matmul_takes_the_int8_product_with_scratch) {
  NEED_INT_DOT();
  Rng rng(44);
  const WeightCase c = weight_case(rng, GgmlType::Q4_K, 37, 512);
  for (int64_t n_tokens : {int64_t{2}, kMatVecMaxTokens + 1}) {
    const auto x = random_floats(rng, static_cast<size_t>(n_tokens * c.cols));
    const uint64_t scratch_bytes = matmul_scratch_bytes(*dev.ops, c.type, c.cols, n_tokens);
    PETREL_CHECK_EQ(scratch_bytes, n_tokens <= kMatVecMaxTokens ? q8_1_bytes(c.cols, n_tokens) : 0u);
    auto wb = device_buffer(*dev.ctx, c.bytes.data(), c.bytes.size());
    auto xb = device_buffer(*dev.ctx, x.data(), x.size() * 4);
    auto yb = device_buffer(*dev.ctx, nullptr, static_cast<uint64_t>(n_tokens * c.rows) * 4);
    auto sb = device_buffer(*dev.ctx, nullptr, 64 * 1024);
    PETREL_CHECK(wb && xb && yb && sb);
    if (!(wb && xb && yb && sb)) return;
    for (bool with_scratch : {false, true}) {
      size_t commands = 0;
      PETREL_CHECK(run_op(dev, [&](Recording& rec) {
        return matmul_with_scratch(*dev.ops, rec, c.type, DeviceSpan{wb.get(), 0, wb->size()}, c.rows, c.cols,
                                   DeviceSpan{xb.get(), 0, xb->size()}, n_tokens,
                                   DeviceSpan{yb.get(), 0, yb->size()}, with_scratch ? DeviceSpan{sb.get(), 0, sb->size()} : DeviceSpan{});
      }, &commands));
      const bool int8 = with_scratch && scratch_bytes > 0;
      PETREL_CHECK_EQ(commands, int8 ? 2u : 1u);
      // The float path within float rounding; the int8 one within the 8-bit bound (checked above),
      // here within 2% of the magnitude.
      const auto y = read_floats(dev, *yb, static_cast<size_t>(n_tokens * c.rows));
      PETREL_CHECK(matches(y, product(c, x.data(), n_tokens), int8 ? 2e-2 : kProductTolerance));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_mat_vec_int8_refuses_bad_shapes_and_types) {
  NEED_INT_DOT();
  auto b = device_buffer(*dev.ctx, nullptr, 4096);
  PETREL_CHECK(b != nullptr);
  if (!b) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan all{b.get(), 0, 4096}, small{b.get(), 0, 64};
  VulkanOps& ops = *dev.ops;
  PETREL_CHECK_EQ(mat_vec_int8(ops, *rec, GgmlType::F16, all, 1, 32, all, 1, all, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(mat_vec_int8(ops, *rec, GgmlType::Q4_K, all, 1, 32, all, 1, all, all).code(),
                  StatusCode::invalid_argument);  // not whole super-blocks
  PETREL_CHECK_EQ(mat_vec_int8(ops, *rec, GgmlType::Q8_0, all, 1, 32, all, 9, all, all).code(),
                  StatusCode::invalid_argument);  // more than kMatVecMaxTokens
  PETREL_CHECK_EQ(mat_vec_int8(ops, *rec, GgmlType::Q8_0, all, 1, 256, all, 1, all, small).code(),
                  StatusCode::invalid_argument);  // scratch smaller than q8_1_bytes
  PETREL_CHECK_EQ(quantize_q8_1(ops, *rec, all, 48, 1, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(rec->commands(), 0u);
  PETREL_CHECK(rec->finish().ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

// PETREL_VULKAN_NO_INT_DOT=1 leaves the feature off on a new context (and so the float products
// run), whatever the device has.
PETREL_TEST(vulkan_no_int_dot_switch_turns_the_feature_off) {
  NEED_DEVICE();
  const char* before = std::getenv("PETREL_VULKAN_NO_INT_DOT");
  const std::string saved = before != nullptr ? before : "";
  setenv("PETREL_VULKAN_NO_INT_DOT", "1", 1);
  std::unique_ptr<VulkanContext> ctx;
  PETREL_CHECK(VulkanContext::create(&ctx).ok());
  if (ctx) {
    PETREL_CHECK(!ctx->info().integer_dot_product);
    PETREL_CHECK(!mat_vec_int8_supports(*ctx, GgmlType::Q4_K));
  }
  if (before != nullptr) {
    setenv("PETREL_VULKAN_NO_INT_DOT", saved.c_str(), 1);
  } else {
    unsetenv("PETREL_VULKAN_NO_INT_DOT");
  }
  std::printf("  device features: integer dot %s (4x8 packed signed %saccelerated), cooperative matrices %s\n",
              dev.ctx->info().integer_dot_product ? "on" : "off",
              dev.ctx->info().integer_dot_accelerated ? "" : "not ",
              dev.ctx->info().cooperative_matrix ? "on" : "off");
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
