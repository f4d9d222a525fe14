// Shared by the tests of the weight shaders (matmul_tests, get_rows_tests, mat_vec_id_tests):
// weights of each type quantized from random values by quant/ref, their reference-dequantized
// values, float64 products of those, and device buffers that put an operand at a chosen offset.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "backend/vulkan/ops_matmul.h"
#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "tests/vulkan/vulkan_test_support.h"

namespace petrel::vk::testing {

// Every type the weight shaders take, with a row length that reaches an edge of the shaders: a
// partial last unit (float types); rows that start inside a word (odd counts of 18-, 22-, 34-,
// 110- and 210-byte blocks, F16 and BF16 rows of odd length); from 1 to 64 invocations per row
// (mat_vec's threads_per_row: the largest power of two up to a quarter of the row's units and
// 64). The matmul, get_rows and mat_vec_id tests each run every one (matmul_tests checks that the
// list is the shaders' list).
struct TypeShape {
  GgmlType type;
  int64_t cols;
};
inline const std::vector<TypeShape>& weight_shapes() {
  static const std::vector<TypeShape> shapes{
      {GgmlType::F32, 45},     {GgmlType::F16, 1031},    {GgmlType::BF16, 69},   {GgmlType::Q4_0, 96},
      {GgmlType::Q4_1, 160},   {GgmlType::Q5_0, 96},     {GgmlType::Q5_1, 224},  {GgmlType::Q8_0, 160},
      {GgmlType::Q2_K, 512},   {GgmlType::Q3_K, 768},    {GgmlType::Q4_K, 768},  {GgmlType::Q5_K, 512},
      {GgmlType::Q6_K, 768},   {GgmlType::IQ4_NL, 1056}, {GgmlType::IQ4_XS, 2048},
  };
  return shapes;
}

inline std::string type_name(GgmlType t) { return ggml_type_info(static_cast<uint32_t>(t))->name; }

// `rows` rows of `cols` values in `type` (n_matrices of them stacked, for expert weights).
struct WeightCase {
  GgmlType type = GgmlType::F32;
  int64_t rows = 0, cols = 0, n_matrices = 1;
  std::vector<uint8_t> bytes;  // the file's bytes
  std::vector<float> values;   // reference-dequantized, [n_matrices][rows][cols]
  uint64_t row_bytes() const { return bytes.size() / static_cast<size_t>(rows * n_matrices); }
};

namespace detail {
template <typename Block>
void quantize_as(const std::vector<float>& v, WeightCase* c, void (*quantize)(const float*, Block*, int64_t),
                 void (*dequantize)(const Block*, float*, int64_t), int64_t block_values) {
  std::vector<Block> blocks(v.size() / static_cast<size_t>(block_values));  // aligned for the block type
  quantize(v.data(), blocks.data(), static_cast<int64_t>(v.size()));
  dequantize(blocks.data(), c->values.data(), static_cast<int64_t>(v.size()));
  c->bytes.resize(blocks.size() * sizeof(Block));
  std::memcpy(c->bytes.data(), blocks.data(), c->bytes.size());
}
}  // namespace detail

// Random values with a scale and an offset per 32-value group (so that block scales, sub-block
// scales and K-quant minimums all differ from one group to the next), quantized to `type`.
inline WeightCase weight_case(Rng& rng, GgmlType type, int64_t rows, int64_t cols, int64_t n_matrices = 1) {
  WeightCase c;
  c.type = type;
  c.rows = rows;
  c.cols = cols;
  c.n_matrices = n_matrices;
  const size_t n = static_cast<size_t>(rows * cols * n_matrices);
  std::vector<float> v(n);
  float scale = 1.0f, offset = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    if (i % 32 == 0) {
      scale = 0.2f + 2.0f * rng.uniform();
      offset = 0.5f * rng.sym();
    }
    v[i] = scale * rng.normal() + offset;
  }
  c.values.resize(n);
  switch (type) {
    case GgmlType::F32:
      c.values = v;
      c.bytes.resize(n * 4);
      std::memcpy(c.bytes.data(), v.data(), n * 4);
      break;
    case GgmlType::F16:
    case GgmlType::BF16: {
      std::vector<uint16_t> h(n);
      if (type == GgmlType::F16) {
        ref::quantize_row_f16(v.data(), h.data(), static_cast<int64_t>(n));
        ref::dequantize_row_f16(h.data(), c.values.data(), static_cast<int64_t>(n));
      } else {
        ref::quantize_row_bf16(v.data(), h.data(), static_cast<int64_t>(n));
        ref::dequantize_row_bf16(h.data(), c.values.data(), static_cast<int64_t>(n));
      }
      c.bytes.resize(n * 2);
      std::memcpy(c.bytes.data(), h.data(), n * 2);
      break;
    }
    case GgmlType::Q4_0: detail::quantize_as<BlockQ4_0>(v, &c, ref::quantize_row_q4_0, ref::dequantize_row_q4_0, 32); break;
    case GgmlType::Q4_1: detail::quantize_as<BlockQ4_1>(v, &c, ref::quantize_row_q4_1, ref::dequantize_row_q4_1, 32); break;
    case GgmlType::Q5_0: detail::quantize_as<BlockQ5_0>(v, &c, ref::quantize_row_q5_0, ref::dequantize_row_q5_0, 32); break;
    case GgmlType::Q5_1: detail::quantize_as<BlockQ5_1>(v, &c, ref::quantize_row_q5_1, ref::dequantize_row_q5_1, 32); break;
    case GgmlType::Q8_0: detail::quantize_as<BlockQ8_0>(v, &c, ref::quantize_row_q8_0, ref::dequantize_row_q8_0, 32); break;
    case GgmlType::Q2_K: detail::quantize_as<BlockQ2_K>(v, &c, ref::quantize_row_q2_K, ref::dequantize_row_q2_K, 256); break;
    case GgmlType::Q3_K: detail::quantize_as<BlockQ3_K>(v, &c, ref::quantize_row_q3_K, ref::dequantize_row_q3_K, 256); break;
    case GgmlType::Q4_K: detail::quantize_as<BlockQ4_K>(v, &c, ref::quantize_row_q4_K, ref::dequantize_row_q4_K, 256); break;
    case GgmlType::Q5_K: detail::quantize_as<BlockQ5_K>(v, &c, ref::quantize_row_q5_K, ref::dequantize_row_q5_K, 256); break;
    case GgmlType::Q6_K: detail::quantize_as<BlockQ6_K>(v, &c, ref::quantize_row_q6_K, ref::dequantize_row_q6_K, 256); break;
    case GgmlType::IQ4_NL:
      detail::quantize_as<BlockIq4Nl>(v, &c, ref::quantize_row_iq4_nl, ref::dequantize_row_iq4_nl, 32);
      break;
    case GgmlType::IQ4_XS:
      detail::quantize_as<BlockIq4Xs>(v, &c, ref::quantize_row_iq4_xs, ref::dequantize_row_iq4_xs, 256);
      break;
    default: PETREL_CHECK(false); break;
  }
  return c;
}

// A device buffer holding `bytes` of `data` from byte `offset` on (the bytes before are zero),
// padded to whole words.
inline std::unique_ptr<Buffer> buffer_at(VulkanContext& ctx, const void* data, size_t bytes, size_t offset) {
  std::vector<uint8_t> padded((offset + bytes + 3) / 4 * 4);
  if (data != nullptr) std::memcpy(padded.data() + offset, data, bytes);
  return device_buffer(ctx, padded.data(), padded.size());
}

// The binding size (for set_max_binding_bytes) that holds exactly `rows` rows of `row_bytes`:
// ops_matmul.cpp's rows_per_binding keeps the offset alignment and 8 bytes free besides the rows.
// The tests' other operands must fit it too.
inline uint64_t binding_for_rows(Device& dev, uint64_t rows, uint64_t row_bytes) {
  return rows * row_bytes + std::max<uint64_t>(dev.ctx->info().min_storage_buffer_offset_alignment, 4) + 8;
}

// y[t][r] = sum_c W_m[r][c] x[t][c] in float64 for matrix m of c, with the sum of |W_m[r][c] x[t][c]|
// beside each: a float sum of K terms in any order is off by a few sqrt(K) float epsilons of that
// sum, not of the result (which may cancel to near zero).
struct Expected {
  std::vector<double> y, magnitude;
};

inline Expected product(const WeightCase& c, const float* x, int64_t n_tokens, int64_t m = 0) {
  Expected e{std::vector<double>(static_cast<size_t>(n_tokens * c.rows)),
             std::vector<double>(static_cast<size_t>(n_tokens * c.rows))};
  const float* wm = c.values.data() + m * c.rows * c.cols;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < c.rows; ++r) {
      double s = 0, a = 0;
      for (int64_t k = 0; k < c.cols; ++k) {
        const double term = static_cast<double>(wm[r * c.cols + k]) * x[t * c.cols + k];
        s += term;
        a += std::fabs(term);
      }
      e.y[static_cast<size_t>(t * c.rows + r)] = s;
      e.magnitude[static_cast<size_t>(t * c.rows + r)] = a;
    }
  }
  return e;
}

// Float sums of up to 2048 terms: 1e-5 of the magnitude is a few times sqrt(2048) epsilons.
constexpr double kProductTolerance = 1e-5;

// |got - want| within tol * magnitude for every element; reports the first miss.
inline bool matches(const std::vector<float>& got, const Expected& want, double tol = kProductTolerance) {
  if (got.size() != want.y.size()) {
    std::fprintf(stderr, "  %zu results, want %zu\n", got.size(), want.y.size());
    return false;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want.y[i]) <= tol * want.magnitude[i])) {
      std::fprintf(stderr, "  element %zu: got %.9g, want %.9g (magnitude %.3g)\n", i, got[i], want.y[i],
                   want.magnitude[i]);
      return false;
    }
  }
  return true;
}

// Runs a one-operation recording; false (reported) when a step fails. *commands: the dispatches
// the operation recorded.
template <typename Op>
bool run_op(Device& dev, Op op, size_t* commands = nullptr) {
  std::unique_ptr<Recording> rec;
  if (!Recording::create(*dev.ctx, &rec).ok()) return false;
  const Status st = op(*rec);
  if (!st.ok()) std::fprintf(stderr, "  %s\n", st.message().c_str());
  if (commands != nullptr) *commands = rec->commands();
  const bool ok = st.ok() && rec->finish().ok() && rec->run().ok();
  PETREL_CHECK(ok);
  return ok;
}

inline std::vector<float> read_floats(Device& dev, const Buffer& b, size_t n, uint64_t offset = 0) {
  std::vector<float> v(n);
  PETREL_CHECK(download(*dev.ctx, b, offset, v.data(), n * 4).ok());
  return v;
}

}  // namespace petrel::vk::testing
