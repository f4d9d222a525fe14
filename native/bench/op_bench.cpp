// petrel_op_bench: throughput of single backend operations on synthetic data, timed by the
// thread CPU clock of a one-thread backend, so numbers stay comparable on a busy machine (wall
// time with all threads is what `petrel bench` reports for whole models).
//
//   petrel_op_bench matmul <type> <cols> <rows> <n_tokens> [seconds]
//   petrel_op_bench delta_net <n_tokens> [seconds]     (Qwen3.5-0.8B head shapes)
//
// Prints one line: the op, its shape, time per call and the rate (GMAC/s or tokens/s).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "backend/cpu/ops/cpu_backend.h"
#include "quant/convert.h"
#include "quant/ggml_type.h"

namespace {

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    x = static_cast<float>(static_cast<int64_t>((s * 0x2545F4914F6CDD1Dull) >> 40) - (1 << 23)) * 0x1p-23f;
  }
  return v;
}

// Runs fn until `seconds` of thread CPU time have passed (after one warm-up call); seconds per call.
template <typename F>
double time_calls(double seconds, F&& fn) {
  fn();
  int calls = 0;
  const double t0 = thread_seconds();
  double t = t0;
  while (t - t0 < seconds || calls < 3) {
    fn();
    ++calls;
    t = thread_seconds();
  }
  return (t - t0) / calls;
}

int bench_matmul(int argc, char** argv) {
  if (argc < 6) return 2;
  const petrel::GgmlTypeInfo* info = nullptr;
  for (uint32_t id = 0; id < 64 && info == nullptr; ++id) {
    const petrel::GgmlTypeInfo* t = petrel::ggml_type_info(id);
    if (t != nullptr && std::strcmp(t->name, argv[2]) == 0) info = t;
  }
  if (info == nullptr) {
    std::fprintf(stderr, "unknown type %s\n", argv[2]);
    return 2;
  }
  const int64_t cols = std::atoll(argv[3]), rows = std::atoll(argv[4]), n_tokens = std::atoll(argv[5]);
  const double seconds = argc > 6 ? std::atof(argv[6]) : 1.0;
  const auto type = info->type;
  uint64_t row_bytes = 0;
  petrel::ggml_row_bytes(*info, static_cast<uint64_t>(cols), &row_bytes);
  std::vector<uint8_t> weights(row_bytes * static_cast<uint64_t>(rows));
  const std::vector<float> src = random_floats(static_cast<size_t>(cols), 1);
  for (int64_t r = 0; r < rows; ++r) {
    if (!petrel::quantize_row(type, src.data(), weights.data() + row_bytes * r, cols).ok()) return 2;
  }
  petrel::WeightView w;
  w.type = type;
  w.ne[0] = cols;
  w.ne[1] = rows;
  w.data = weights.data();
  w.row_bytes = row_bytes;
  const std::vector<float> x = random_floats(static_cast<size_t>(n_tokens * cols), 2);
  std::vector<float> y(static_cast<size_t>(n_tokens * rows));
  auto backend = petrel::make_cpu_backend(1);
  const double per_call = time_calls(seconds, [&] { backend->matmul(w, x.data(), n_tokens, y.data()); });
  const double macs = static_cast<double>(cols) * rows * n_tokens;
  std::printf("matmul %s %lldx%lld t=%lld: %.3f ms, %.2f GMAC/s (1 thread)\n", info->name, (long long)cols,
              (long long)rows, (long long)n_tokens, per_call * 1e3, macs / per_call * 1e-9);
  return 0;
}

int bench_delta_net(int argc, char** argv) {
  if (argc < 3) return 2;
  const int64_t n_tokens = std::atoll(argv[2]);
  const double seconds = argc > 3 ? std::atof(argv[3]) : 1.0;
  const petrel::DeltaNetShape shape{16, 16, 128, 128, false, 1e-6f};
  const auto q = random_floats(static_cast<size_t>(n_tokens * 16 * 128), 3);
  const auto k = random_floats(q.size(), 4);
  const auto v = random_floats(q.size(), 5);
  std::vector<float> g(static_cast<size_t>(n_tokens * 16), -0.1f), beta(g.size(), 0.5f);
  std::vector<float> state(16 * 128 * 128, 0.0f), out(q.size());
  auto backend = petrel::make_cpu_backend(1);
  const double per_call = time_calls(seconds, [&] {
    backend->delta_net(shape, q.data(), k.data(), v.data(), g.data(), beta.data(), state.data(), n_tokens, out.data());
  });
  std::printf("delta_net 16x128x128 t=%lld: %.3f ms, %.1f tokens/s (1 thread)\n", (long long)n_tokens, per_call * 1e3,
              n_tokens / per_call);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string op = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (op == "matmul") rc = bench_matmul(argc, argv);
  if (op == "delta_net") rc = bench_delta_net(argc, argv);
  if (rc == 2) {
    std::fprintf(stderr,
                 "usage: petrel_op_bench matmul <type> <cols> <rows> <n_tokens> [seconds]\n"
                 "       petrel_op_bench delta_net <n_tokens> [seconds]\n");
  }
  return rc;
}
