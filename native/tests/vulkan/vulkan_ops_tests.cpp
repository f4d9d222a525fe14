// The Vulkan backend's shaders against plain float64 references computed here, on whatever device
// Vulkan finds (lavapipe in CI), with the validation layer on (ctest sets PETREL_VULKAN_VALIDATE;
// every test also fails on a validation message). A machine without a Vulkan device fails these
// tests: the target is only built where Vulkan is installed, and CI installs lavapipe.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_ops.h"
#include "backend/vulkan/vk_recording.h"
#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "tests/test.h"

namespace petrel::vk {
namespace {

using test::Rng;

struct Device {
  std::unique_ptr<VulkanContext> ctx;
  std::unique_ptr<VulkanOps> ops;
  Status status;
};

// One device for the whole run (creating an instance per test would dominate the run time).
Device& device() {
  static Device d = [] {
    Device dev;
    dev.status = VulkanContext::create(&dev.ctx);
    if (dev.status.ok()) dev.status = VulkanOps::create(*dev.ctx, &dev.ops);
    if (dev.status.ok()) {
      const DeviceInfo& i = dev.ctx->info();
      std::printf("vulkan device: %s (subgroup %u, binding range %llu, validation %s)\n", i.name.c_str(),
                  i.subgroup_size, static_cast<unsigned long long>(i.max_storage_buffer_range),
                  dev.ctx->validating() ? "on" : "off");
    } else {
      std::fprintf(stderr, "%s\n", dev.status.message().c_str());
    }
    return dev;
  }();
  return d;
}

#define NEED_DEVICE()                        \
  Device& dev = device();                    \
  PETREL_CHECK(dev.status.ok());             \
  if (!dev.status.ok()) return;              \
  const int validation_before = dev.ctx->validation_messages()

#define CHECK_NO_VALIDATION_MESSAGES() PETREL_CHECK_EQ(dev.ctx->validation_messages(), validation_before)

// A device buffer holding `values`, and room for the result.
std::unique_ptr<Buffer> device_buffer(VulkanContext& ctx, const void* data, uint64_t bytes) {
  std::unique_ptr<Buffer> b;
  if (!Buffer::create(ctx, bytes, MemoryKind::device, &b).ok()) return nullptr;
  if (data != nullptr && !upload(ctx, *b, 0, data, bytes).ok()) return nullptr;
  return b;
}

std::vector<float> random_floats(Rng& rng, size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

// |a - b| within rel * max(1, |b|) for every element; reports the first miss.
bool close(const std::vector<float>& got, const std::vector<double>& want, double rel) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= rel * std::max(1.0, std::fabs(want[i])))) {
      std::fprintf(stderr, "  element %zu: got %.9g, want %.9g\n", i, got[i], want[i]);
      return false;
    }
  }
  return true;
}

PETREL_TEST(vulkan_device_found_and_described) {
  NEED_DEVICE();
  const DeviceInfo& i = dev.ctx->info();
  PETREL_CHECK(!i.name.empty());
  PETREL_CHECK(i.subgroup_size >= 1);
  PETREL_CHECK(i.max_storage_buffer_range >= (1u << 20));
  PETREL_CHECK(i.max_push_constants >= kPushConstantBytes);
  const auto lines = list_devices();
  PETREL_CHECK(!lines.empty());
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_upload_download_round_trip) {
  NEED_DEVICE();
  Rng rng(1);
  std::vector<uint8_t> data(100000);
  for (auto& b : data) b = static_cast<uint8_t>(rng.u32());
  for (MemoryKind kind : {MemoryKind::device, MemoryKind::host}) {
    std::unique_ptr<Buffer> b;
    PETREL_CHECK(Buffer::create(*dev.ctx, data.size() + 64, kind, &b).ok());
    if (!b) return;
    PETREL_CHECK(upload(*dev.ctx, *b, 64, data.data(), data.size()).ok());
    std::vector<uint8_t> back(data.size());
    PETREL_CHECK(download(*dev.ctx, *b, 64, back.data(), back.size()).ok());
    PETREL_CHECK(back == data);
    // A range outside the buffer is refused, and nothing is copied.
    PETREL_CHECK_EQ(upload(*dev.ctx, *b, 65, data.data(), data.size()).code(), StatusCode::invalid_argument);
    PETREL_CHECK_EQ(download(*dev.ctx, *b, b->size() + 1, back.data(), 1).code(), StatusCode::invalid_argument);
  }
  std::unique_ptr<Buffer> empty;
  PETREL_CHECK_EQ(Buffer::create(*dev.ctx, 0, MemoryKind::device, &empty).code(), StatusCode::invalid_argument);
  CHECK_NO_VALIDATION_MESSAGES();
}

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
    PETREL_CHECK(dev.ops->rms_norm(*rec, {xb.get(), 12, x.size() * 4}, {wb.get(), 0, w.size() * 4},
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
    PETREL_CHECK(dev.ops->gate_mul(*rec, act, {gb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, n).ok());
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
  PETREL_CHECK(dev.ops->add(*rec, {gb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {gb.get(), 0, n * 4}, n).ok());
  PETREL_CHECK(rec->finish().ok());
  PETREL_CHECK(rec->run().ok());
  std::vector<float> y(n);
  PETREL_CHECK(download(*dev.ctx, *gb, 0, y.data(), n * 4).ok());
  bool exact = true;
  for (int64_t i = 0; i < n; ++i) exact = exact && y[i] == g[i] + x[i];
  PETREL_CHECK(exact);
  CHECK_NO_VALIDATION_MESSAGES();
}

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
  const Status st = dev.ops->mat_vec(*rec, GgmlType::Q4_K, {wb.get(), 0, c.w.size()}, c.rows, c.cols,
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

PETREL_TEST(vulkan_recording_replays_on_new_device_data) {
  NEED_DEVICE();
  // Record y = rms_norm(x) * w + x once; change x on the device between runs (as a decode step
  // reads a new token's activations) and check each run's result.
  Rng rng(6);
  const int64_t n = 300;
  auto xb = device_buffer(*dev.ctx, nullptr, n * 4);
  const auto w = random_floats(rng, n);
  auto wb = device_buffer(*dev.ctx, w.data(), n * 4);
  auto yb = device_buffer(*dev.ctx, nullptr, n * 4);
  PETREL_CHECK(xb && wb && yb);
  if (!(xb && wb && yb)) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  PETREL_CHECK(dev.ops->rms_norm(*rec, {xb.get(), 0, n * 4}, {wb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, 1, n, 1e-6f).ok());
  PETREL_CHECK(dev.ops->add(*rec, {yb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, n).ok());
  PETREL_CHECK(rec->finish().ok());
  PETREL_CHECK_EQ(rec->commands(), 2u);
  for (int step = 0; step < 3; ++step) {
    const auto x = random_floats(rng, n, 1.0f + step);
    PETREL_CHECK(upload(*dev.ctx, *xb, 0, x.data(), n * 4).ok());
    PETREL_CHECK(rec->run().ok());
    std::vector<float> y(n);
    PETREL_CHECK(download(*dev.ctx, *yb, 0, y.data(), n * 4).ok());
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ss / n + 1e-6);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = x[i] * scale * w[i] + x[i];
    PETREL_CHECK(close(y, want, 1e-5));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_ops_refuse_bad_shapes_and_spans) {
  NEED_DEVICE();
  auto b = device_buffer(*dev.ctx, nullptr, 4096);
  PETREL_CHECK(b != nullptr);
  if (!b) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan all{b.get(), 0, 4096};
  // 9 tokens, cols not a multiple of 256, a type without a shader, a span past the buffer's end,
  // a misaligned span, operands smaller than the shape.
  PETREL_CHECK_EQ(dev.ops->mat_vec(*rec, GgmlType::Q4_K, all, 1, 256, all, 9, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(dev.ops->mat_vec(*rec, GgmlType::Q4_K, all, 1, 100, all, 1, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(dev.ops->mat_vec(*rec, GgmlType::IQ4_XS, all, 1, 256, all, 1, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(dev.ops->add(*rec, {b.get(), 4000, 400}, all, all, 100).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(dev.ops->add(*rec, {b.get(), 2, 400}, all, all, 100).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(dev.ops->add(*rec, all, all, all, 2000).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(rec->commands(), 0u);
  PETREL_CHECK(rec->finish().ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
