// The Vulkan runtime: device, buffers, recordings replayed on new data, refused arguments.
#include <cmath>
#include <cstring>

#include "backend/vulkan/ops_elementwise.h"
#include "backend/vulkan/ops_matmul.h"
#include "tests/vulkan/vulkan_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

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
  PETREL_CHECK(rms_norm(*dev.ops, *rec, {xb.get(), 0, n * 4}, {wb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, 1, n, 1e-6f).ok());
  PETREL_CHECK(add(*dev.ops, *rec, {yb.get(), 0, n * 4}, {xb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, n).ok());
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

PETREL_TEST(vulkan_recordings_compare_their_commands_and_profile_them) {
  NEED_DEVICE();
  // What the backend's replay rests on: two recordings of the same operations on the same
  // buffers are the same commands; another buffer or another push constant is not.
  const int64_t n = 256;
  auto xb = device_buffer(*dev.ctx, nullptr, n * 4);
  auto wb = device_buffer(*dev.ctx, nullptr, n * 4);
  auto yb = device_buffer(*dev.ctx, nullptr, n * 4);
  PETREL_CHECK(xb && wb && yb);
  if (!(xb && wb && yb)) return;
  auto record = [&](const Buffer& x, float eps) {
    std::unique_ptr<Recording> rec;
    PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
    PETREL_CHECK(rms_norm(*dev.ops, *rec, {&x, 0, n * 4}, {wb.get(), 0, n * 4}, {yb.get(), 0, n * 4}, 1, n, eps).ok());
    PETREL_CHECK(add(*dev.ops, *rec, {yb.get(), 0, n * 4}, {&x, 0, n * 4}, {yb.get(), 0, n * 4}, n).ok());
    return rec;
  };
  auto a = record(*xb, 1e-6f), b = record(*xb, 1e-6f), c = record(*xb, 1e-5f), d = record(*wb, 1e-6f);
  PETREL_CHECK(a->same_commands(*b));
  PETREL_CHECK(!a->same_commands(*c));
  PETREL_CHECK(!a->same_commands(*d));
  PETREL_CHECK(a->uses(*xb) && a->uses(*yb));
  auto e = std::unique_ptr<Buffer>();
  PETREL_CHECK(Buffer::create(*dev.ctx, 64, MemoryKind::device, &e).ok());
  PETREL_CHECK(!a->uses(*e));
  // Profiling: one device time per command, labelled by shader.
  a->profile();
  PETREL_CHECK(a->finish().ok());
  PETREL_CHECK(a->run().ok());
  PETREL_CHECK_EQ(a->command_ms().size(), 2u);
  double total = 0;
  for (double ms : a->command_ms()) {
    PETREL_CHECK(ms >= 0);
    total += ms;
  }
  PETREL_CHECK(total > 0);
  PETREL_CHECK_EQ(std::string(a->command_label(0)), std::string("rms_norm"));
  PETREL_CHECK_EQ(std::string(a->command_label(1)), std::string("add"));
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
  PETREL_CHECK_EQ(mat_vec(*dev.ops, *rec, GgmlType::Q4_K, all, 1, 256, all, 9, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(mat_vec(*dev.ops, *rec, GgmlType::Q4_K, all, 1, 100, all, 1, all).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(mat_vec(*dev.ops, *rec, GgmlType::IQ2_XXS, all, 1, 256, all, 1, all).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(add(*dev.ops, *rec, {b.get(), 4000, 400}, all, all, 100).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(add(*dev.ops, *rec, {b.get(), 2, 400}, all, all, 100).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(add(*dev.ops, *rec, all, all, all, 2000).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(rec->commands(), 0u);
  PETREL_CHECK(rec->finish().ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
