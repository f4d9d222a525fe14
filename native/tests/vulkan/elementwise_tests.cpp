// rms_norm, gate_mul and add shaders against float64 references, and their strided operands
// (attention's [q_h | gate_h] rows read in place) and rms_norm without a weight against the CPU
// backend's ops on the same views.
#include <cmath>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/ops_elementwise.h"
#include "tests/vulkan/sequence_test_support.h"

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

// The gated attention projection's rows: per token, per head [q_h (hd) | gate_h (hd)]. q_h is
// the view {hd, n_head, n} at 0 with strides 2 hd and 2 hd n_head; gate_h the same at hd.
struct QgRows {
  int64_t hd, n_head, n_tokens;
  int64_t floats() const { return 2 * hd * n_head * n_tokens; }
  RowLayout layout() const { return RowLayout{hd, n_head, Strides3{2 * hd, 2 * hd * n_head}}; }
  Tensor view(CpuBackend& cpu, std::vector<float>& host, int64_t at) const {
    return host_view(cpu, host, at, hd, n_head, n_tokens, 2 * hd, 2 * hd * n_head);
  }
};

// rms_norm of x read through strides (the q heads of [q_h | gate_h] rows, and rows with gaps
// between tokens), with and without a weight, against the CPU backend on the same view.
PETREL_TEST(vulkan_rms_norm_strided_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(8);
  struct Case {
    int64_t ne0, ne1, ne2, s1, s2, at;
    bool weight;
  };
  const QgRows qg{256, 4, 3};
  for (const Case& c : {Case{qg.hd, qg.n_head, qg.n_tokens, 2 * qg.hd, 2 * qg.hd * qg.n_head, 0, true},
                        Case{qg.hd, qg.n_head, qg.n_tokens, 2 * qg.hd, 2 * qg.hd * qg.n_head, qg.hd, false},
                        Case{20, 3, 5, 23, 80, 3, true}, Case{20, 3, 5, 23, 80, 1, false},
                        Case{129, 1, 7, 129, 131, 2, true}, Case{64, 6, 1, 64, 384, 0, false}}) {
    const int64_t rows = c.ne1 * c.ne2;
    auto host = random_floats(rng, static_cast<size_t>(c.at + (c.ne1 - 1) * c.s1 + (c.ne2 - 1) * c.s2 + c.ne0), 3.0f);
    auto w = random_floats(rng, static_cast<size_t>(c.ne0));
    std::vector<float> want(static_cast<size_t>(rows * c.ne0));
    cpu->rms_norm(host_view(*cpu, host, c.at, c.ne0, c.ne1, c.ne2, c.s1, c.s2),
                  c.weight ? cpu->wrap_host(w.data(), Tensor::contiguous(GgmlType::F32, c.ne0)) : Tensor{}, 1e-6f,
                  cpu->wrap_host(want.data(), Tensor::contiguous(GgmlType::F32, c.ne0, c.ne1, c.ne2)));
    // x 4 bytes into its buffer, below the binding alignment, and then `at` floats into that.
    auto xb = buffer_of(*dev.ctx, host, 4);
    auto wb = buffer_of(*dev.ctx, w);
    auto yb = buffer_of(*dev.ctx, want);
    PETREL_CHECK(xb && wb && yb);
    if (!(xb && wb && yb)) return;
    auto rec = record(dev, [&](Recording& r) {
      return rms_norm(*dev.ops, r, span_of(xb.get(), 4 + static_cast<uint64_t>(c.at) * 4),
                      c.weight ? span_of(wb.get()) : DeviceSpan{}, span_of(yb.get()), rows, c.ne0, 1e-6f,
                      RowLayout{c.ne0, c.ne1, Strides3{c.s1, c.s2}});
    });
    if (!run(rec)) return;
    PETREL_CHECK(close(read_back<float>(*dev.ctx, *yb, want.size()), as_double(want), 1e-5));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// Without a weight on packed rows, in place (y is x): the default layout.
PETREL_TEST(vulkan_rms_norm_without_weight_in_place_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(9);
  const int64_t rows = 9, cols = 300;
  auto x = random_floats(rng, static_cast<size_t>(rows * cols), 2.0f);
  std::vector<float> want(x.size());
  cpu->rms_norm(x.data(), nullptr, cols, rows, 1e-6f, want.data());
  auto xb = buffer_of(*dev.ctx, x);
  PETREL_CHECK(xb != nullptr);
  if (!xb) return;
  auto rec = record(dev, [&](Recording& r) {
    return rms_norm(*dev.ops, r, span_of(xb.get()), DeviceSpan{}, span_of(xb.get()), rows, cols, 1e-6f);
  });
  if (!run(rec)) return;
  PETREL_CHECK(close(read_back<float>(*dev.ctx, *xb, x.size()), as_double(want), 1e-5));
  CHECK_NO_VALIDATION_MESSAGES();
}

// gate_mul with attention's sigmoid gate read in place from the [q_h | gate_h] rows, written over
// x (as the model gates the attention output), and SwiGLU's silu over a strided gate.
PETREL_TEST(vulkan_gate_mul_strided_gate_matches_cpu) {
  NEED_DEVICE();
  auto cpu = make_cpu_backend(1);
  Rng rng(10);
  for (const QgRows& qg : {QgRows{256, 4, 3}, QgRows{20, 3, 70}}) {
    for (GateActivation act : {GateActivation::sigmoid, GateActivation::silu}) {
      auto rows = random_floats(rng, static_cast<size_t>(qg.floats()), 3.0f);
      const auto x = random_floats(rng, static_cast<size_t>(qg.hd * qg.n_head * qg.n_tokens));
      auto want = x;
      const Tensor out = cpu->wrap_host(want.data(), Tensor::contiguous(GgmlType::F32, qg.hd, qg.n_head, qg.n_tokens));
      cpu->gate_mul(act, qg.view(*cpu, rows, qg.hd), out, out);
      auto gb = buffer_of(*dev.ctx, rows, 8);
      auto xb = buffer_of(*dev.ctx, x, 4);
      PETREL_CHECK(gb && xb);
      if (!(gb && xb)) return;
      auto rec = record(dev, [&](Recording& r) {
        return gate_mul(*dev.ops, r, act, span_of(gb.get(), 8 + static_cast<uint64_t>(qg.hd) * 4), span_of(xb.get(), 4),
                        span_of(xb.get(), 4), static_cast<int64_t>(x.size()), qg.layout());
      });
      if (!run(rec)) return;
      PETREL_CHECK(close(read_back<float>(*dev.ctx, *xb, x.size(), 4), as_double(want), 1e-5));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_strided_rows_refuse_layouts_that_do_not_fit) {
  NEED_DEVICE();
  auto b = buffer_of(*dev.ctx, std::vector<float>(384));
  PETREL_CHECK(b != nullptr);
  if (!b) return;
  std::unique_ptr<Recording> rec;
  PETREL_CHECK(Recording::create(*dev.ctx, &rec).ok());
  const DeviceSpan x{b.get(), 0, 512}, y{b.get(), 1024, 512};  // 128 floats each
  // 8 rows of 16 from rows of 32 (two heads of 16 per token): 3 x 64 + 32 + 16 floats.
  const RowLayout heads{16, 2, Strides3{32, 64}};
  PETREL_CHECK(rms_norm(*dev.ops, *rec, DeviceSpan{b.get(), 0, 960}, {}, y, 8, 16, 1e-6f, heads).ok());
  // x short; 7 rows of 2-row planes; another row length; a negative stride.
  PETREL_CHECK(!rms_norm(*dev.ops, *rec, x, {}, y, 8, 16, 1e-6f, heads).ok());
  PETREL_CHECK(!rms_norm(*dev.ops, *rec, x, {}, y, 7, 16, 1e-6f, RowLayout{16, 2, Strides3{}}).ok());
  PETREL_CHECK(!rms_norm(*dev.ops, *rec, x, {}, y, 8, 16, 1e-6f, RowLayout{8, 1, Strides3{}}).ok());
  PETREL_CHECK(!rms_norm(*dev.ops, *rec, x, {}, y, 4, 16, 1e-6f, RowLayout{16, 1, Strides3{0, -16}}).ok());
  const GateActivation silu = GateActivation::silu;
  PETREL_CHECK(gate_mul(*dev.ops, *rec, silu, DeviceSpan{b.get(), 0, 960}, x, y, 128, heads).ok());
  // The gate short; n not whole rows; 7 rows of 2-row planes.
  PETREL_CHECK(!gate_mul(*dev.ops, *rec, silu, x, x, y, 128, heads).ok());
  PETREL_CHECK(!gate_mul(*dev.ops, *rec, silu, x, x, y, 120, RowLayout{16, 1, Strides3{}}).ok());
  PETREL_CHECK(!gate_mul(*dev.ops, *rec, silu, x, x, y, 112, RowLayout{16, 2, Strides3{}}).ok());
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
