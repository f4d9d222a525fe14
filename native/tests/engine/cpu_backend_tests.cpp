// CPU backend tests (run: petrel_tests cpu_): every Backend operation of make_cpu_backend against
// a naive double-precision reference written here (delta_net: gated_delta_rule_tests.cpp, against
// model/qwen35/gated_delta_rule_reference.h); matmul for every weight type convert.h can quantize;
// attention over a cache with earlier tokens; conv state carried across calls; bit-identical
// results for 1, 2 and 3 threads; and the thread pool itself.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops/cpu_backend.h"
#include "backend/cpu/ops/ops.h"
#include "backend/cpu/ops/thread_pool.h"
#include "quant/convert.h"
#include "tests/engine/delta_net_case.h"
#include "tests/test.h"

namespace petrel {
namespace {

// ---- helpers -------------------------------------------------------------------------------------

using test::Rng;

std::vector<float> random_vec(Rng& rng, size_t n, float amp = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = amp * rng.sym();
  return v;
}

// Checks |got - want| <= tol elementwise; reports the first failure with its index and values.
#define CHECK_CLOSE_VEC(got, want, tol_expr, what)                                                        \
  do {                                                                                                    \
    for (size_t _i = 0; _i < (want).size(); ++_i) {                                                       \
      const double _g = (got)[_i], _w = (want)[_i], _tol = (tol_expr);                                    \
      if (!(std::fabs(_g - _w) <= _tol)) {                                                                \
        char _buf[256];                                                                                   \
        std::snprintf(_buf, sizeof _buf, "%s: [%zu] got %.9g want %.9g (tol %.3g)", std::string(what).c_str(), \
                      _i, _g, _w, _tol);                                                                  \
        ::petrel::test::fail(__FILE__, __LINE__, _buf);                                                   \
        break;                                                                                            \
      }                                                                                                   \
    }                                                                                                     \
  } while (0)

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A quantized weight: rows x cols random floats in [-1, 1) through quantize_row, plus its exact
// dequantized values (the reference the backend must reproduce).
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [rows * n_slab][cols]
  WeightView view;
};

TestWeight make_weight(GgmlType type, int64_t cols, int64_t rows, uint64_t seed, int64_t n_slab = 1) {
  TestWeight w;
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  uint64_t row_bytes = 0;
  ggml_row_bytes(*info, static_cast<uint64_t>(cols), &row_bytes);
  const int64_t total_rows = rows * n_slab;
  w.bytes.resize(row_bytes * static_cast<uint64_t>(total_rows) + 64);
  w.deq.resize(static_cast<size_t>(total_rows * cols));
  Rng rng(seed);
  for (int64_t r = 0; r < total_rows; ++r) {
    std::vector<float> src = random_vec(rng, static_cast<size_t>(cols));
    uint8_t* dst = w.bytes.data() + row_bytes * static_cast<uint64_t>(r);
    PETREL_CHECK(quantize_row(type, src.data(), dst, cols).ok());
    PETREL_CHECK(dequantize_row(type, dst, w.deq.data() + r * cols, cols).ok());
  }
  w.view.type = type;
  w.view.ne[0] = cols;
  w.view.ne[1] = rows;
  w.view.ne[2] = n_slab;
  w.view.data = w.bytes.data();
  w.view.row_bytes = row_bytes;
  w.view.name = info->name;
  return w;
}

// ---- thread pool ---------------------------------------------------------------------------------

PETREL_TEST(cpu_thread_pool_covers_every_task_once) {
  for (int threads : {1, 2, 3, 5}) {
    cpu::ThreadPool pool(threads);
    PETREL_CHECK_EQ(pool.n_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 17, 1000, 100003}) {
      for (int64_t grain : {0, 1, 7, 100000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_index{0};
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int tid) {
          if (tid < 0 || tid >= threads || b < 0 || e > n || b >= e) bad_index.fetch_add(1);
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        PETREL_CHECK_EQ(bad_index.load(), 0);
        bool once = true;
        for (auto& h : hits) once = once && h.load() == 1;
        PETREL_CHECK(once);
      }
    }
  }
}

PETREL_TEST(cpu_thread_pool_many_dispatches_and_nesting) {
  cpu::ThreadPool pool(3);
  // Many tiny back-to-back jobs exercise the wake/complete handshake (a lost wakeup hangs here).
  int64_t total = 0;
  for (int round = 0; round < 2000; ++round) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for(8, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i + round);
    });
    total += sum.load() - 8 * round;
  }
  PETREL_CHECK_EQ(total, 2000 * 28);
  // Let the workers fall asleep, then dispatch again.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  std::atomic<int> after_sleep{0};
  pool.parallel_for(100, 1, [&](int64_t b, int64_t e, int) { after_sleep.fetch_add(static_cast<int>(e - b)); });
  PETREL_CHECK_EQ(after_sleep.load(), 100);
  // A nested parallel_for runs inline on the calling task's thread.
  std::atomic<int> inner{0}, wrong_thread{0};
  pool.parallel_for(6, 1, [&](int64_t, int64_t, int tid) {
    pool.parallel_for(10, 1, [&](int64_t b, int64_t e, int inner_tid) {
      if (inner_tid != tid) wrong_thread.fetch_add(1);
      inner.fetch_add(static_cast<int>(e - b));
    });
  });
  PETREL_CHECK_EQ(inner.load(), 60);
  PETREL_CHECK_EQ(wrong_thread.load(), 0);
  // A task of one pool may dispatch on another pool; indices stay within that pool's range.
  cpu::ThreadPool other(2);
  std::atomic<int> other_tasks{0}, other_bad{0};
  pool.parallel_for(3, 1, [&](int64_t, int64_t, int) {
    other.parallel_for(50, 1, [&](int64_t b, int64_t e, int tid) {
      if (tid < 0 || tid >= 2) other_bad.fetch_add(1);
      other_tasks.fetch_add(static_cast<int>(e - b));
    });
  });
  PETREL_CHECK_EQ(other_tasks.load(), 150);
  PETREL_CHECK_EQ(other_bad.load(), 0);
  cpu::ThreadPool automatic(0);
  PETREL_CHECK(automatic.n_threads() >= 1);
  // Destroying a pool right after a dispatch (workers still spinning) and one never used.
  { cpu::ThreadPool p(4); p.parallel_for(4, 1, [](int64_t, int64_t, int) {}); }
  { cpu::ThreadPool p(4); }
}

// ---- matmul ---------------------------------------------------------------------------------------

void check_matmul(GgmlType type, int64_t cols, int64_t rows, int64_t n_tokens, CpuBackend& be, uint64_t seed) {
  TestWeight w = make_weight(type, cols, rows, seed);
  Rng rng(seed + 1);
  std::vector<float> x_in = random_vec(rng, static_cast<size_t>(n_tokens * cols));
  std::vector<float> y(static_cast<size_t>(n_tokens * rows), -7.0f);
  be.matmul(w.view, x_in.data(), n_tokens, y.data());
  // matmul first rounds the activations as llama.cpp does (its vec_dot_type); the references
  // take the same rounded values.
  std::vector<float> x = x_in;
  PETREL_CHECK(cpu::round_activations(cpu::matmul_activation_type(type), x_in.data(), n_tokens, cols, x.data()) ||
               cpu::matmul_activation_type(type) == GgmlType::F32);
  const bool integer = cpu::matmul_is_integer(cpu::cpu_kernels(), type);
  std::vector<float> want(y.size()), tol(y.size()), exact(y.size());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, mag = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double p = static_cast<double>(w.deq[r * cols + c]) * x[t * cols + c];
        sum += p;
        mag += std::fabs(p);
      }
      want[t * rows + r] = static_cast<float>(sum);
      // The integer kernels scale block sums (and subtract K-quant min terms) in float.
      tol[t * rows + r] = static_cast<float>((integer ? 1e-4 : 1e-5) * mag + 1e-30);
      exact[t * rows + r] = cpu::cpu_kernels().dot_f32(w.deq.data() + r * cols, x.data() + t * cols, cols);
    }
  }
  const std::string what = std::string("matmul ") + w.view.name + " " + std::to_string(cols) + "x" +
                           std::to_string(rows) + " t=" + std::to_string(n_tokens);
  CHECK_CLOSE_VEC(y, want, tol[_i], what);
  // The dequantizers are bit-exact, so each float-path output is exactly dot_f32 of the reference row.
  if (!integer && !bit_equal(y, exact)) ::petrel::test::fail(__FILE__, __LINE__, what + ": not bit-equal to dot_f32(dequantized row)");
}

const GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,   GgmlType::Q8_0,  GgmlType::Q4_0,
                                 GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,   GgmlType::Q2_K,  GgmlType::Q3_K,
                                 GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,   GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                                 GgmlType::MXFP4};

PETREL_TEST(cpu_matmul_all_types) {
  auto be = make_cpu_backend(2);
  uint64_t seed = 100;
  for (GgmlType type : kWeightTypes) {
    PETREL_CHECK(can_quantize(type));
    const uint32_t bs = ggml_type_info(static_cast<uint32_t>(type))->block_size;
    for (int64_t cols : {int64_t{256}, int64_t{768}, int64_t{bs == 1 ? 37 : bs * 3}}) {
      for (int64_t rows : {1, 7, 24, 33}) {  // 24: Q4_K / Q6_K prefill repacks rows per task
        for (int64_t n_tokens : {1, 7, 64, 70}) check_matmul(type, cols, rows, n_tokens, *be, ++seed);
      }
    }
  }
}

// Q4_K and Q6_K matrices the backend repacks at load (eight rows at a time) multiply like the
// file's layout (repacked per task from 8 tokens on: the same kernel, the same bits), for decode
// and prefill shapes; shapes and types it does not repack are left alone.
PETREL_TEST(cpu_matmul_repacked) {
  auto be = make_cpu_backend(2);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K})
  for (int64_t n_tokens : {1, 3, 64, 70}) {
    TestWeight w = make_weight(type, 512, 24, 40 + n_tokens);
    Rng rng(50 + n_tokens);
    std::vector<float> x = random_vec(rng, static_cast<size_t>(n_tokens * 512));
    std::vector<float> plain(static_cast<size_t>(n_tokens * 24)), packed(plain.size());
    be->matmul(w.view, x.data(), n_tokens, plain.data());
    WeightView view = w.view;
    be->prepare_weight(&view, false);
    PETREL_CHECK(view.repacked != nullptr);
    be->matmul(view, x.data(), n_tokens, packed.data());
    CHECK_CLOSE_VEC(packed, plain, 1e-5f * (std::fabs(plain[_i]) + 1.0f),
                    std::string("repacked ") + ggml_type_info(static_cast<uint32_t>(type))->name + " t=" + std::to_string(n_tokens));
  }
  TestWeight odd = make_weight(GgmlType::Q4_K, 256, 7, 60);  // rows not a multiple of 8
  WeightView view = odd.view;
  be->prepare_weight(&view, false);
  PETREL_CHECK(view.repacked == nullptr);
  TestWeight q5 = make_weight(GgmlType::Q5_K, 256, 16, 61);
  view = q5.view;
  be->prepare_weight(&view, false);
  PETREL_CHECK(view.repacked == nullptr);
}

PETREL_TEST(cpu_matmul_large_and_slab) {
  auto be = make_cpu_backend(3);
  check_matmul(GgmlType::Q4_K, 2048, 67, 5, *be, 7);
  check_matmul(GgmlType::F32, 4096, 9, 3, *be, 8);  // rows_per_block = 4: partial last block
  // Matrix 1 of a stacked {cols, rows, 3} expert tensor.
  TestWeight w = make_weight(GgmlType::Q8_0, 64, 5, 9, 3);
  Rng rng(10);
  std::vector<float> x_in = random_vec(rng, 2 * 64), y(2 * 5), x(2 * 64);
  be->matmul(w.view.slab(1), x_in.data(), 2, y.data());
  PETREL_CHECK(cpu::round_activations(GgmlType::Q8_0, x_in.data(), 2, 64, x.data()));
  std::vector<float> want(y.size());
  for (int t = 0; t < 2; ++t) {
    for (int r = 0; r < 5; ++r) {
      double s = 0;
      for (int c = 0; c < 64; ++c) s += static_cast<double>(w.deq[(5 + r) * 64 + c]) * x[t * 64 + c];
      want[t * 5 + r] = static_cast<float>(s);
    }
  }
  CHECK_CLOSE_VEC(y, want, 1e-5, "matmul slab");
}

// ---- get_rows -------------------------------------------------------------------------------------

PETREL_TEST(cpu_get_rows) {
  auto be = make_cpu_backend(2);
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_K,
                        GgmlType::Q6_K, GgmlType::IQ4_XS}) {
    TestWeight w = make_weight(type, 512, 40, 200 + static_cast<uint64_t>(type));
    const std::vector<int32_t> ids = {3, 0, 39, 3, 17};
    std::vector<float> out(ids.size() * 512);
    be->get_rows(w.view, ids.data(), static_cast<int64_t>(ids.size()), out.data());
    std::vector<float> want;
    for (int32_t id : ids) want.insert(want.end(), w.deq.begin() + id * 512, w.deq.begin() + (id + 1) * 512);
    PETREL_CHECK(bit_equal(out, want));
  }
  // An out-of-range id poisons its row only.
  TestWeight w = make_weight(GgmlType::F16, 64, 4, 300);
  const int32_t ids[2] = {1, 4};
  std::vector<float> out(128);
  be->get_rows(w.view, ids, 2, out.data());
  PETREL_CHECK(std::isfinite(out[0]) && std::isnan(out[64]));
}

// ---- rms_norm, rope -------------------------------------------------------------------------------

PETREL_TEST(cpu_rms_norm) {
  auto be = make_cpu_backend(3);
  Rng rng(1);
  for (int64_t n : {1, 7, 256, 1000, 4096}) {
    const int64_t rows = 9;
    std::vector<float> x = random_vec(rng, static_cast<size_t>(n * rows), 3.0f), w = random_vec(rng, static_cast<size_t>(n));
    for (bool with_w : {false, true}) {
      std::vector<float> y(x.size()), want(x.size());
      be->rms_norm(x.data(), with_w ? w.data() : nullptr, n, rows, 1e-6f, y.data());
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[r * n + i]) * x[r * n + i];
        const double inv = 1.0 / std::sqrt(ss / n + 1e-6);
        for (int64_t i = 0; i < n; ++i) want[r * n + i] = static_cast<float>(x[r * n + i] * inv * (with_w ? w[i] : 1.0));
      }
      CHECK_CLOSE_VEC(y, want, 1e-5 * std::fabs(_w) + 1e-7, "rms_norm n=" + std::to_string(n));
      std::vector<float> in_place = x;  // y may alias x
      be->rms_norm(in_place.data(), with_w ? w.data() : nullptr, n, rows, 1e-6f, in_place.data());
      PETREL_CHECK(bit_equal(in_place, y));
    }
  }
}

void check_rope(int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot, float base, int32_t max_pos,
                uint64_t seed) {
  auto be = make_cpu_backend(2);
  Rng rng(seed);
  std::vector<float> x = random_vec(rng, static_cast<size_t>(n_tokens * n_heads * head_dim));
  std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
  for (auto& p : pos) p = static_cast<int32_t>(rng.next() % static_cast<uint64_t>(max_pos + 1));
  std::vector<float> y = x;
  be->rope_neox(y.data(), n_tokens, n_heads, head_dim, n_rot, pos.data(), base);
  std::vector<float> want = x, tol(x.size(), 0.0f);
  const int64_t half = n_rot / 2;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t o = (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const double theta = pos[t] * std::pow(static_cast<double>(base), -2.0 * i / n_rot);
        const double x0 = x[o + i], x1 = x[o + i + half];
        want[o + i] = static_cast<float>(x0 * std::cos(theta) - x1 * std::sin(theta));
        want[o + i + half] = static_cast<float>(x0 * std::sin(theta) + x1 * std::cos(theta));
        // ggml builds the angle by repeated float multiplication: its error grows with pos.
        const float t_ = static_cast<float>((std::fabs(x0) + std::fabs(x1)) * (2e-6 + 2e-7 * pos[t]));
        tol[o + i] = tol[o + i + half] = t_;
      }
    }
  }
  CHECK_CLOSE_VEC(y, want, tol[_i], "rope n_rot=" + std::to_string(n_rot));
}

PETREL_TEST(cpu_rope_neox) {
  check_rope(5, 4, 256, 64, 1e7f, 60, 1);        // qwen35 partial rotary: dims 64.. pass through
  check_rope(70, 3, 64, 64, 1e4f, 50, 2);        // full rotary
  check_rope(9, 2, 128, 32, 1e6f, 40000, 3);     // far positions
  check_rope(1, 16, 256, 64, 1e7f, 262143, 4);
}

// ---- grouped (MoE) matmul -----------------------------------------------------------------------

// matmul_grouped gives each group exactly what matmul of that expert's slab gives (bit for bit):
// integer types in one dispatch, others group by group; empty groups, one-token groups, groups
// past a token block, any thread count; a bad expert id is NaN, not a wild read.
PETREL_TEST(cpu_matmul_grouped_equals_matmul_per_expert) {
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16}) {
      const int64_t cols = 256, rows = 40, n_expert = 6;
      TestWeight w = make_weight(type, cols, rows, 31, n_expert);
      const std::vector<int32_t> experts = {0, 2, 3, 5};
      const std::vector<int64_t> offsets = {0, 1, 1, 71, 80};  // sizes 1, 0, 70, 9
      Rng rng(32);
      std::vector<float> x = random_vec(rng, static_cast<size_t>(offsets.back() * cols));
      std::vector<float> y(static_cast<size_t>(offsets.back() * rows), -1.0f);
      be->matmul_grouped(w.view, experts.data(), offsets.data(), 4, x.data(), y.data());
      for (size_t g = 0; g < experts.size(); ++g) {
        const int64_t m = offsets[g + 1] - offsets[g];
        if (m == 0) continue;
        std::vector<float> want(static_cast<size_t>(m * rows));
        be->matmul(w.view.slab(experts[g]), x.data() + offsets[g] * cols, m, want.data());
        std::vector<float> got(y.begin() + offsets[g] * rows, y.begin() + offsets[g + 1] * rows);
        if (!bit_equal(got, want)) {
          test::fail(__FILE__, __LINE__, std::string("matmul_grouped differs for expert ") + std::to_string(experts[g]) +
                                             " type " + std::to_string(static_cast<int>(type)));
        }
      }
      WeightView packed = w.view;  // experts repacked at load, as a model that fits memory has them
      be->prepare_weight(&packed, false);
      PETREL_CHECK((packed.repacked != nullptr) == (type == GgmlType::Q4_K || type == GgmlType::Q6_K));
      std::vector<float> yp(y.size(), -1.0f);
      be->matmul_grouped(packed, experts.data(), offsets.data(), 4, x.data(), yp.data());
      for (size_t g = 0; g < experts.size(); ++g) {
        const int64_t m = offsets[g + 1] - offsets[g];
        if (m == 0) continue;
        std::vector<float> want(static_cast<size_t>(m * rows));
        be->matmul(packed.slab(experts[g]), x.data() + offsets[g] * cols, m, want.data());
        std::vector<float> got(yp.begin() + offsets[g] * rows, yp.begin() + offsets[g + 1] * rows);
        if (!bit_equal(got, want)) test::fail(__FILE__, __LINE__, "repacked matmul_grouped differs for expert " + std::to_string(experts[g]));
      }
      CHECK_CLOSE_VEC(yp, y, 1e-5f * (std::fabs(y[_i]) + 1.0f), "repacked experts vs file layout");
      const std::vector<int32_t> bad = {0, 6};
      const std::vector<int64_t> bad_offsets = {0, 2, 4};
      std::vector<float> yb(static_cast<size_t>(4 * rows), 0.0f);
      be->matmul_grouped(w.view, bad.data(), bad_offsets.data(), 2, x.data(), yb.data());
      PETREL_CHECK(std::isnan(yb[0]) && std::isnan(yb.back()));
    }
  }
}

// ---- attention ------------------------------------------------------------------------------------

void check_attention(int n_head, int n_head_kv, int head_dim, int64_t pos0, int64_t n_tokens, CpuBackend& be, uint64_t seed,
                     float q_amp = 2.0f, GgmlType kv_type = GgmlType::F32) {
  Rng rng(seed);
  // Head-major caches with room to spare (capacity > positions in use), as a session's are.
  const int64_t cap = pos0 + n_tokens + 5;
  std::vector<float> q = random_vec(rng, static_cast<size_t>(n_tokens * n_head * head_dim), q_amp);
  std::vector<float> kc = random_vec(rng, static_cast<size_t>(n_head_kv * cap * head_dim), 2.0f);
  std::vector<float> vc = random_vec(rng, static_cast<size_t>(n_head_kv * cap * head_dim));
  const AttentionShape shape{n_head, n_head_kv, head_dim, 1.0f / std::sqrt(static_cast<float>(head_dim))};
  std::vector<float> out(q.size());
  if (kv_type == GgmlType::F16) {
    // The cache holds f16: the reference uses the same rounded values.
    std::vector<uint16_t> k16(kc.size()), v16(vc.size());
    PETREL_CHECK(quantize_row(GgmlType::F16, kc.data(), k16.data(), static_cast<int64_t>(kc.size())).ok());
    PETREL_CHECK(quantize_row(GgmlType::F16, vc.data(), v16.data(), static_cast<int64_t>(vc.size())).ok());
    PETREL_CHECK(dequantize_row(GgmlType::F16, k16.data(), kc.data(), static_cast<int64_t>(kc.size())).ok());
    PETREL_CHECK(dequantize_row(GgmlType::F16, v16.data(), vc.data(), static_cast<int64_t>(vc.size())).ok());
    be.attention(shape, q.data(), k16.data(), v16.data(), GgmlType::F16, cap, pos0, n_tokens, out.data());
  } else {
    be.attention(shape, q.data(), kc.data(), vc.data(), GgmlType::F32, cap, pos0, n_tokens, out.data());
  }
  std::vector<float> want(q.size());
  const int group = n_head / n_head_kv;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_head; ++h) {
      const float* qh = &q[(t * n_head + h) * head_dim];
      const int kvh = h / group;
      std::vector<double> s(static_cast<size_t>(pos0 + t + 1));
      double mx = -1e300;
      for (int64_t j = 0; j <= pos0 + t; ++j) {
        double d = 0;
        for (int c = 0; c < head_dim; ++c) d += static_cast<double>(qh[c]) * kc[(kvh * cap + j) * head_dim + c];
        s[j] = d * shape.scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& e : s) sum += (e = std::exp(e - mx));
      for (int c = 0; c < head_dim; ++c) {
        double acc = 0;
        for (int64_t j = 0; j <= pos0 + t; ++j) acc += s[j] * vc[(kvh * cap + j) * head_dim + c];
        want[(t * n_head + h) * head_dim + c] = static_cast<float>(acc / sum);
      }
    }
  }
  CHECK_CLOSE_VEC(out, want, 1e-5, "attention pos0=" + std::to_string(pos0) + " n=" + std::to_string(n_tokens));
}

PETREL_TEST(cpu_attention) {
  auto be = make_cpu_backend(3);
  check_attention(4, 2, 64, 0, 1, *be, 1);
  check_attention(4, 2, 64, 0, 40, *be, 2);
  check_attention(4, 2, 64, 37, 5, *be, 3);   // cache holds 37 earlier tokens
  check_attention(4, 4, 32, 11, 1, *be, 4);   // decode step, no GQA
  check_attention(8, 2, 256, 100, 3, *be, 5); // qwen35 head_dim
  check_attention(6, 1, 16, 3, 70, *be, 6);
  // Decode over a long cache: the context is split into parts that are merged afterwards.
  check_attention(16, 2, 256, 1000, 1, *be, 7);
  check_attention(8, 2, 64, 300, 5, *be, 8);     // later parts are empty for the early queries
  check_attention(4, 4, 32, 2000, 2, *be, 9, 12.0f);  // peaked softmax: scores up to ~±50
  // Many units: no split, several online-softmax blocks per query.
  check_attention(4, 2, 32, 50, 130, *be, 10);
  check_attention(4, 2, 32, 400, 130, *be, 11, 12.0f);
  // F16 caches: prefill and a split decode.
  check_attention(8, 2, 256, 100, 70, *be, 12, 2.0f, GgmlType::F16);
  check_attention(16, 2, 256, 1000, 1, *be, 13, 2.0f, GgmlType::F16);
  // out may alias q (split and unsplit contexts).
  for (int64_t pos0 : {100, 200}) {
    Rng rng(12);
    std::vector<float> q = random_vec(rng, 3 * 4 * 32), kc = random_vec(rng, 203 * 2 * 32), vc = random_vec(rng, 203 * 2 * 32);
    const AttentionShape shape{4, 2, 32, 0.2f};
    std::vector<float> out(q.size()), in_place = q;
    be->attention(shape, q.data(), kc.data(), vc.data(), GgmlType::F32, 203, pos0, 3, out.data());
    be->attention(shape, in_place.data(), kc.data(), vc.data(), GgmlType::F32, 203, pos0, 3, in_place.data());
    PETREL_CHECK(bit_equal(out, in_place));
  }
}

// ---- conv1d_silu ----------------------------------------------------------------------------------

PETREL_TEST(cpu_conv1d_silu) {
  auto be = make_cpu_backend(2);
  Rng rng(5);
  const int64_t channels = 200, kernel = 4, n = 23;
  std::vector<float> w = random_vec(rng, static_cast<size_t>(channels * kernel));
  std::vector<float> x = random_vec(rng, static_cast<size_t>(n * channels), 2.0f);
  std::vector<float> state0 = random_vec(rng, static_cast<size_t>((kernel - 1) * channels), 2.0f);
  // Reference over concat(state0, x).
  std::vector<float> want(x.size());
  auto input = [&](int64_t r, int64_t c) -> double {
    return r < kernel - 1 ? state0[r * channels + c] : x[(r - kernel + 1) * channels + c];
  };
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < channels; ++c) {
      double s = 0;
      for (int64_t i = 0; i < kernel; ++i) s += w[c * kernel + i] * input(t + i, c);
      want[t * channels + c] = static_cast<float>(s / (1.0 + std::exp(-s)));
    }
  }
  std::vector<float> state = state0, y(x.size());
  be->conv1d_silu(x.data(), w.data(), state.data(), n, channels, kernel, y.data());
  CHECK_CLOSE_VEC(y, want, 1e-5 * (1.0 + std::fabs(_w)), "conv1d_silu");
  std::vector<float> want_state(x.end() - (kernel - 1) * channels, x.end());
  PETREL_CHECK(bit_equal(state, want_state));
  // Carried state: calls of 1, 2 (shorter than the state), 1, 12 and 7 tokens equal one call.
  std::vector<float> state2 = state0, y2(x.size());
  int64_t t0 = 0;
  for (int64_t len : {1, 2, 1, 12, 7}) {
    be->conv1d_silu(x.data() + t0 * channels, w.data(), state2.data(), len, channels, kernel, y2.data() + t0 * channels);
    t0 += len;
  }
  PETREL_CHECK_EQ(t0, n);
  PETREL_CHECK(bit_equal(y2, y));
  PETREL_CHECK(bit_equal(state2, state));
}

// ---- thread-count independence --------------------------------------------------------------------

PETREL_TEST(cpu_ops_identical_for_1_2_3_threads) {
  std::vector<std::vector<float>> results[3];
  for (int threads = 1; threads <= 3; ++threads) {
    auto be = make_cpu_backend(threads);
    std::vector<std::vector<float>>& r = results[threads - 1];
    Rng rng(42);
    TestWeight w = make_weight(GgmlType::Q4_K, 512, 37, 1);
    std::vector<float> x = random_vec(rng, 9 * 512), y(9 * 37);
    be->matmul(w.view, x.data(), 9, y.data());
    r.push_back(y);
    be->matmul(w.view, x.data(), 1, y.data());
    r.push_back(y);
    std::vector<float> nrm(x.size());
    be->rms_norm(x.data(), x.data() + 100, 256, 18, 1e-6f, nrm.data());
    r.push_back(nrm);
    std::vector<int32_t> pos = {5, 6, 7, 8, 9, 10, 11, 12, 13};
    std::vector<float> rx(x.begin(), x.begin() + 9 * 2 * 256);
    be->rope_neox(rx.data(), 9, 2, 256, 64, pos.data(), 1e7f);
    r.push_back(rx);
    const AttentionShape as{4, 2, 64, 0.125f};
    std::vector<float> kc = random_vec(rng, 20 * 2 * 64), vc = random_vec(rng, 20 * 2 * 64), ao(5 * 4 * 64);
    be->attention(as, x.data(), kc.data(), vc.data(), GgmlType::F32, 20, 15, 5, ao.data());
    r.push_back(ao);
    std::vector<float> cw = random_vec(rng, 300 * 4), cs(3 * 300, 0.0f), cy(9 * 300);
    be->conv1d_silu(x.data(), cw.data(), cs.data(), 9, 300, 4, cy.data());
    r.push_back(cy);
    r.push_back(cs);
    test::DeltaCase c = test::make_delta_case(2, 6, 32, 16, false, 70, 3);
    std::vector<float> st = c.state0;
    r.push_back(test::delta_run(*be, c, 70, st));
    r.push_back(test::delta_run(*be, c, 1, st));
    r.push_back(st);
  }
  for (int t = 1; t < 3; ++t) {
    PETREL_CHECK_EQ(results[t].size(), results[0].size());
    for (size_t i = 0; i < results[0].size(); ++i) {
      if (!bit_equal(results[t][i], results[0][i])) {
        ::petrel::test::fail(__FILE__, __LINE__, "result " + std::to_string(i) + " differs with " + std::to_string(t + 1) + " threads");
      }
    }
  }
}

}  // namespace
}  // namespace petrel
