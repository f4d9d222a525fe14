// petrel_op_bench: throughput of single backend operations on synthetic data, timed by the
// thread CPU clock of a one-thread backend, so numbers stay comparable on a busy machine (wall
// time with all threads is what `petrel bench` reports for whole models).
//
//   petrel_op_bench matmul <type> <cols> <rows> <n_tokens> [seconds]
//   petrel_op_bench delta_net <n_tokens> [seconds]     (Qwen3.5-0.8B head shapes)
//   petrel_op_bench dot <type> <cols> <n_act>          (the integer dot kernel alone, in L1;
//                                                      q4_K_x8 / q4_K_x16 / q6_K_x8 / q6_K_x16: one or two repacked groups)
//   petrel_op_bench attention <pos0> <n_tokens> [seconds]  (Qwen3.5-0.8B heads, F16 KV caches of 6 layers)
//   petrel_op_bench repack <q4_K|q6_K> <cols>           (8 rows into the repacked layout)
//   petrel_op_bench peak                                (x86: the instruction ceilings the kernels
//                                                      work against: vpmaddubsw and vfmadd ymm per second)
//   petrel_op_bench stream [threads]                    (the memory read rate decode works against:
//                                                      a sum over 512 MiB, plain and prefetched, 2 threads by default, 5 runs)
//
// Prints one line: the op, its shape, time per call and the rate (GMAC/s or tokens/s).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops/cpu_backend.h"
#include "backend/cpu/ops/ops.h"
#include "core/cpu_features.h"
#include "quant/convert.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"

namespace {

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

// n_rows copies of one random row quantized to `type`, back to back; row_bytes apart.
bool quantized_rows(petrel::GgmlType type, int64_t cols, int n_rows, std::vector<uint8_t>* rows, uint64_t* row_bytes) {
  if (!petrel::ggml_row_bytes(*petrel::ggml_type_info(static_cast<uint32_t>(type)), static_cast<uint64_t>(cols), row_bytes)) return false;
  rows->assign(static_cast<size_t>(n_rows) * *row_bytes, 0);
  const std::vector<float> src = random_floats(static_cast<size_t>(cols), 1);
  for (int r = 0; r < n_rows; ++r) {
    if (!petrel::quantize_row(type, src.data(), rows->data() + r * *row_bytes, cols).ok()) return false;
  }
  return true;
}

// PETREL_OP_BENCH_THREADS=N: an N-thread backend timed by the wall clock instead (for the
// scaling of memory-bound ops; only meaningful on an idle machine).
int bench_threads() {
  const char* v = std::getenv("PETREL_OP_BENCH_THREADS");
  return v != nullptr && std::atoi(v) > 1 ? std::atoi(v) : 1;
}

double bench_seconds() {
  timespec ts{};
  clock_gettime(bench_threads() > 1 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs fn until `seconds` of thread CPU time have passed (after one warm-up call); seconds per call.
template <typename F>
double time_calls(double seconds, F&& fn) {
  fn();
  int calls = 0;
  const double t0 = bench_seconds();
  double t = t0;
  while (t - t0 < seconds || calls < 3) {
    fn();
    ++calls;
    t = bench_seconds();
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
  auto backend = petrel::make_cpu_backend(bench_threads());
  // As a model load does: the backend may keep the matrix in its own layout (Q4_K: repacked).
  backend->prepare_weight(&w, false);
  const double per_call = time_calls(seconds, [&] { backend->matmul(w, x.data(), n_tokens, y.data()); });
  const double macs = static_cast<double>(cols) * rows * n_tokens;
  std::printf("matmul %s %lldx%lld t=%lld: %.3f ms, %.2f GMAC/s (%d thread(s))\n", info->name, (long long)cols,
              (long long)rows, (long long)n_tokens, per_call * 1e3, macs / per_call * 1e-9, bench_threads());
  return 0;
}

// The integer dot kernel alone on L1-resident operands: one weight row of `cols` values against
// n_act activation rows, called back to back.
int bench_dot(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string type = argv[2];
  const int64_t cols = std::atoll(argv[3]);
  const int n_act = std::atoi(argv[4]);
  const petrel::cpu::CpuKernels& k = petrel::cpu::cpu_kernels();
  petrel::cpu::QuantDotFn fn = nullptr;
  petrel::GgmlType wt = petrel::GgmlType::Q4_K, at = petrel::GgmlType::Q8_K;
  if (type == "q4_K") fn = k.dot_q4_K;
  if (type == "q5_K") { fn = k.dot_q5_K; wt = petrel::GgmlType::Q5_K; }
  if (type == "q6_K") { fn = k.dot_q6_K; wt = petrel::GgmlType::Q6_K; }
  if (type == "q8_0") { fn = k.dot_q8_0; wt = petrel::GgmlType::Q8_0; at = petrel::GgmlType::Q8_0; }
  if (type == "q4_0") { fn = k.dot_q4_0; wt = petrel::GgmlType::Q4_0; at = petrel::GgmlType::Q8_0; }
  const bool q6_x8 = type == "q6_K_x8" || type == "q6_K_x16";
  if (type == "q4_K_x8" || type == "q4_K_x16" || q6_x8) {  // 8 or 16 repacked rows per call: the rate counts them all
    const int n_groups = type.substr(type.size() - 2) == "16" ? 2 : 1;
    if (q6_x8) wt = petrel::GgmlType::Q6_K;
    if (n_act < 1 || n_act > petrel::cpu::kMaxDotActs) return 2;
    uint64_t rb = 0;
    std::vector<uint8_t> rows;
    if (!quantized_rows(wt, cols, 16, &rows, &rb)) return 2;
    const std::vector<float> src = random_floats(static_cast<size_t>(cols), 1);
    const size_t group_bytes = static_cast<size_t>(cols / 256) * (q6_x8 ? sizeof(petrel::cpu::BlockQ6_Kx8) : sizeof(petrel::cpu::BlockQ4_Kx8));
    std::vector<uint8_t> packed(2 * group_bytes + 64);
    uint8_t* groups = packed.data() + (64 - reinterpret_cast<uintptr_t>(packed.data()) % 64) % 64;
    for (int gi = 0; gi < 2; ++gi) {
      if (q6_x8) {
        petrel::cpu::repack_q6_K_x8(rows.data() + 8 * gi * rb, rb, cols, reinterpret_cast<petrel::cpu::BlockQ6_Kx8*>(groups + gi * group_bytes));
      } else {
        petrel::cpu::repack_q4_K_x8(rows.data() + 8 * gi * rb, rb, cols, reinterpret_cast<petrel::cpu::BlockQ4_Kx8*>(groups + gi * group_bytes));
      }
    }
    std::vector<petrel::BlockQ8_K> a(static_cast<size_t>(n_act * cols / 256));
    for (int j = 0; j < n_act; ++j) k.quantize_row_q8_K(src.data(), a.data() + j * cols / 256, cols);
    float out[16 * petrel::cpu::kMaxDotActs];
    const double per_call = time_calls(1.0, [&] {
      for (int r = 0; r < 1000; ++r) {
        if (q6_x8) {
          k.dot_q6_K_x8(reinterpret_cast<const petrel::cpu::BlockQ6_Kx8*>(groups), n_groups, a.data(), cols, n_act, out);
        } else {
          k.dot_q4_K_x8(reinterpret_cast<const petrel::cpu::BlockQ4_Kx8*>(groups), n_groups, a.data(), cols, n_act, out);
        }
      }
    }) / 1000;
    std::printf("dot %s cols=%lld n_act=%d: %.1f ns, %.2f GMAC/s (%s)\n", type.c_str(), (long long)cols, n_act,
                per_call * 1e9, 8.0 * n_groups * static_cast<double>(cols) * n_act / per_call * 1e-9, k.name);
    return 0;
  }
  if (fn == nullptr || n_act < 1 || n_act > petrel::cpu::kMaxDotActs) return 2;
  uint64_t wb = 0, ab = 0;
  petrel::ggml_row_bytes(*petrel::ggml_type_info(static_cast<uint32_t>(wt)), static_cast<uint64_t>(cols), &wb);
  petrel::ggml_row_bytes(*petrel::ggml_type_info(static_cast<uint32_t>(at)), static_cast<uint64_t>(cols), &ab);
  std::vector<uint8_t> w(wb), a(ab * n_act);
  const std::vector<float> src = random_floats(static_cast<size_t>(cols), 1);
  if (!petrel::quantize_row(wt, src.data(), w.data(), cols).ok()) return 2;
  for (int j = 0; j < n_act; ++j) {
    if (!petrel::quantize_row(at, src.data(), a.data() + j * ab, cols).ok()) return 2;
  }
  float out[petrel::cpu::kMaxDotActs];
  const double per_call = time_calls(1.0, [&] {
    for (int r = 0; r < 1000; ++r) fn(w.data(), a.data(), cols, n_act, out);
  }) / 1000;
  std::printf("dot %s cols=%lld n_act=%d: %.1f ns, %.2f GMAC/s (%s)\n", type.c_str(), (long long)cols, n_act,
              per_call * 1e9, static_cast<double>(cols) * n_act / per_call * 1e-9, k.name);
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
  auto backend = petrel::make_cpu_backend(bench_threads());
  const double per_call = time_calls(seconds, [&] {
    backend->delta_net(shape, q.data(), k.data(), v.data(), g.data(), beta.data(), state.data(), n_tokens, out.data());
  });
  std::printf("delta_net 16x128x128 t=%lld: %.3f ms, %.1f tokens/s (%d thread(s))\n", (long long)n_tokens, per_call * 1e3,
              n_tokens / per_call, bench_threads());
  return 0;
}

// n_tokens queries after pos0 cached positions, 8 query heads over 2 KV heads of 256 (Qwen3.5-0.8B).
int bench_attention(int argc, char** argv) {
  if (argc < 4) return 2;
  const int64_t pos0 = std::atoll(argv[2]), n_tokens = std::atoll(argv[3]);
  const double seconds = argc > 4 ? std::atof(argv[4]) : 1.0;
  const petrel::AttentionShape shape{8, 2, 256, 1.0f / 16.0f};
  const int64_t n_pos = pos0 + n_tokens, kv_row = 2 * 256;
  const auto q = random_floats(static_cast<size_t>(n_tokens * 8 * 256), 6);
  // Six caches used in turn, as the six attention layers of a decode step: together they are far
  // larger than the L3, so the cache is read from memory as in a real model.
  constexpr int kLayers = 6;
  std::vector<std::vector<uint16_t>> k(kLayers), v(kLayers);
  const auto kf = random_floats(static_cast<size_t>(n_pos * kv_row), 7), vf = random_floats(kf.size(), 8);
  for (int l = 0; l < kLayers; ++l) {
    k[l].resize(kf.size());
    v[l].resize(vf.size());
    for (size_t i = 0; i < kf.size(); ++i) {
      k[l][i] = petrel::fp32_to_fp16(kf[i]);
      v[l][i] = petrel::fp32_to_fp16(vf[i]);
    }
  }
  std::vector<float> out(q.size());
  auto backend = petrel::make_cpu_backend(bench_threads());
  int layer = 0;
  const double per_call = time_calls(seconds, [&] {
    backend->attention(shape, q.data(), k[layer].data(), v[layer].data(), petrel::GgmlType::F16, n_pos, pos0, n_tokens,
                       out.data());
    layer = (layer + 1) % kLayers;
  });
  // Multiply-adds actually needed (causal): QK^T and PV, each n_head * hd per visible position.
  const double macs = 2.0 * 8 * 256 * (static_cast<double>(n_tokens) * pos0 + n_tokens * (n_tokens + 1) / 2.0);
  std::printf("attention 8/2x256 f16 pos0=%lld t=%lld: %.3f ms, %.2f GMAC/s, %.2f GB/s of KV (%d thread(s))\n",
              (long long)pos0, (long long)n_tokens, per_call * 1e3, macs / per_call * 1e-9,
              2.0 * n_pos * kv_row * 2 / per_call * 1e-9, bench_threads());
  return 0;
}

}  // namespace

// Repacking 8 rows (as a product on weights not repacked at load does per task).
int bench_repack(int argc, char** argv) {
  if (argc < 4) return 2;
  const std::string type = argv[2];
  const int64_t cols = std::atoll(argv[3]);
  const petrel::GgmlType wt = type == "q6_K" ? petrel::GgmlType::Q6_K : petrel::GgmlType::Q4_K;
  if ((type != "q4_K" && type != "q6_K") || cols <= 0 || cols % 256 != 0) return 2;
  uint64_t rb = 0;
  std::vector<uint8_t> rows;
  if (!quantized_rows(wt, cols, 8, &rows, &rb)) return 2;
  const petrel::cpu::RepackFormat format = petrel::cpu::repack_format(wt);
  std::vector<uint8_t> packed(static_cast<size_t>(cols / 256) * format.block_bytes);
  const petrel::cpu::CpuKernels& k = petrel::cpu::cpu_kernels();
  const double per_call = time_calls(1.0, [&] { format.repack(k, rows.data(), rb, cols, packed.data()); });
  std::printf("repack %s 8x%lld: %.1f ns per 8 x 256 block\n", type.c_str(), (long long)cols, per_call * 1e9 / static_cast<double>(cols / 256));
  return 0;
}

#if defined(__x86_64__)
// Throughput of one instruction with 12 independent chains (more than latency x issue width on
// the cores we know), per core: what the integer kernels (32 multiply-adds per vpmaddubsw) and
// the float ones (8 per FMA) can reach at best on this machine. The loops are written in asm:
// from intrinsics over an array, GCC kept the chains in memory and the store-to-load round trips
// set the rate (about half the real one).
#define PETREL_PEAK_12(op) \
  op " %%ymm12, %%ymm0, %%ymm0\n\t" op " %%ymm12, %%ymm1, %%ymm1\n\t" op " %%ymm12, %%ymm2, %%ymm2\n\t"       \
  op " %%ymm12, %%ymm3, %%ymm3\n\t" op " %%ymm12, %%ymm4, %%ymm4\n\t" op " %%ymm12, %%ymm5, %%ymm5\n\t"       \
  op " %%ymm12, %%ymm6, %%ymm6\n\t" op " %%ymm12, %%ymm7, %%ymm7\n\t" op " %%ymm12, %%ymm8, %%ymm8\n\t"       \
  op " %%ymm12, %%ymm9, %%ymm9\n\t" op " %%ymm12, %%ymm10, %%ymm10\n\t" op " %%ymm12, %%ymm11, %%ymm11\n\t"

// One loop of 12 `op`s per iteration, n iterations. ymm0-ymm11 start at 0 and ymm12 holds 1.0f:
// the FMA chains are yi = yi * 1.0 + yi, so they stay 0 (no denormals, no infinities);
// vpmaddubsw's timing does not depend on the values.
#define PETREL_PEAK_LOOP(op)                                                                                       \
  __asm__ volatile(                                                                                                \
      "vbroadcastss %[one], %%ymm12\n\t"                                                                           \
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t vxorps %%ymm1, %%ymm1, %%ymm1\n\t vxorps %%ymm2, %%ymm2, %%ymm2\n\t"         \
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t vxorps %%ymm4, %%ymm4, %%ymm4\n\t vxorps %%ymm5, %%ymm5, %%ymm5\n\t"         \
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t vxorps %%ymm7, %%ymm7, %%ymm7\n\t vxorps %%ymm8, %%ymm8, %%ymm8\n\t"         \
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t vxorps %%ymm10, %%ymm10, %%ymm10\n\t vxorps %%ymm11, %%ymm11, %%ymm11\n\t"    \
      "1:\n\t" PETREL_PEAK_12(op) "dec %[n]\n\t"                                                                     \
      "jnz 1b\n\t"                                                                                                  \
      "vzeroupper\n\t"                                                                                              \
      : [n] "+r"(n)                                                                                                \
      : [one] "m"(one)                                                                                             \
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "cc")

double peak_loop(long n, bool fma) {
  const float one = 1.0f;
  const double t0 = bench_seconds();
  if (fma) {
    PETREL_PEAK_LOOP("vfmadd231ps");
  } else {
    PETREL_PEAK_LOOP("vpmaddubsw");
  }
  return bench_seconds() - t0;
}
#undef PETREL_PEAK_LOOP
#undef PETREL_PEAK_12
#endif

int bench_peak() {
#if defined(__x86_64__)
  if (!petrel::cpu_features().avx2 || !petrel::cpu_features().fma) {
    std::printf("peak: needs AVX2 and FMA\n");
    return 1;
  }
  constexpr long kLoops = 100000000;
  const double maddubs = 12.0 * kLoops / peak_loop(kLoops, false);
  const double fma = 12.0 * kLoops / peak_loop(kLoops, true);
  std::printf("peak per core: vpmaddubsw ymm %.2f G/s = %.1f GMAC/s (int8); vfmadd ymm %.2f G/s = %.1f GMAC/s (f32)\n",
              maddubs * 1e-9, maddubs * 32e-9, fma * 1e-9, fma * 8e-9);
  return 0;
#else
  std::printf("peak: x86 only\n");
  return 1;
#endif
}

// Wall-clock rate of summing a 512 MiB buffer split between `threads` threads: the streaming
// read rate a memory-bound decode step can reach at best. Twice per run: a plain loop, and one
// that fetches 2 KiB ahead into L1 as the decode kernels do; which of the two reads faster
// depends on the machine (docs/PERFORMANCE.md).
int bench_stream(int argc, char** argv) {
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  if (threads < 1 || threads > 256) return 2;
  constexpr size_t kBytes = size_t{512} << 20;
  const size_t words = kBytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(words, 1);  // written once, so every page is backed
  auto rate = [&](bool prefetch) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t begin = words / threads * t, end = t + 1 == threads ? words : words / threads * (t + 1);
        uint64_t a = 0, b = 0, c = 0, d = 0;  // four chains, so the adds keep up with the loads
        size_t i = begin;
        for (; i + 8 <= end; i += 8) {  // 64 bytes per step
          if (prefetch) __builtin_prefetch(buf.data() + i + 256, 0, 3);
          a += buf[i] + buf[i + 4];
          b += buf[i + 1] + buf[i + 5];
          c += buf[i + 2] + buf[i + 6];
          d += buf[i + 3] + buf[i + 7];
        }
        for (; i < end; ++i) a += buf[i];
        sums[static_cast<size_t>(t)] = a + b + c + d;
      });
    }
    for (auto& th : pool) th.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t total = 0;
    for (uint64_t v : sums) total += v;
    return total == words ? static_cast<double>(kBytes) / secs * 1e-9 : -1.0;
  };
  for (int run = 0; run < 5; ++run) {
    const double plain = rate(false), ahead = rate(true);
    if (plain < 0 || ahead < 0) return 1;
    std::printf("stream read 512 MiB, %d thread(s): %.1f GB/s plain, %.1f GB/s prefetched\n", threads, plain, ahead);
  }
  return 0;
}

int main(int argc, char** argv) {
  const std::string op = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (op == "matmul") rc = bench_matmul(argc, argv);
  if (op == "delta_net") rc = bench_delta_net(argc, argv);
  if (op == "dot") rc = bench_dot(argc, argv);
  if (op == "attention") rc = bench_attention(argc, argv);
  if (op == "repack") rc = bench_repack(argc, argv);
  if (op == "peak") rc = bench_peak();
  if (op == "stream") rc = bench_stream(argc, argv);
  if (rc == 2) {
    std::fprintf(stderr,
                 "usage: petrel_op_bench matmul <type> <cols> <rows> <n_tokens> [seconds]\n"
                 "       petrel_op_bench delta_net <n_tokens> [seconds]\n"
                 "       petrel_op_bench dot <q4_0|q8_0|q4_K|q5_K|q6_K|q4_K_x8|q4_K_x16|q6_K_x8|q6_K_x16> <cols> <n_act>\n"
                 "       petrel_op_bench attention <pos0> <n_tokens> [seconds]\n"
                 "       petrel_op_bench repack <q4_K|q6_K> <cols>\n"
                 "       petrel_op_bench peak\n"
                 "       petrel_op_bench stream [threads]\n");
  }
  return rc;
}
