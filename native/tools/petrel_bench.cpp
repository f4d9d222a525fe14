// petrel_bench <model.gguf> [-p 512] [-n 128] [-d 0] [-r 5] [-t threads] [--device auto|cpu|vulkan]
// [-ngl N] [--vram GiB --device simulated] | --list-devices: pp and tg throughput as `petrel bench`
// measures it (src/bench/: a pp test is one N-token prompt into a context already holding -d tokens
// (none by default), a tg test N one-token steps from there, each with the last logits computed and
// nothing sampled; one untimed warm-up run per test), for machines without Node, next to
// llama-bench built there. -p, -n and -d take comma-separated lists as llama-bench's do (every pp
// and tg test at every depth, depth by depth). --device and -ngl choose the backend as
// ModelOptions does (docs/EXECUTION.md#choosing-the-device; the CPU when not given). With --vram,
// MoE expert offload (docs/OFFLOAD.md) within that budget on the simulated device, and each test's
// expert-cache hit rate and bytes uploaded per token in two more columns. Prints llama-bench's
// Markdown columns: backend always, ngl for a GPU backend, threads for the CPU (or when -t is
// given); the device the backend chose goes to stderr. Each test's warm-up run must end in finite
// logits. --list-devices prints the Vulkan library
// and devices petrel finds. Exit 0, 1 on a failure (one line on stderr), 2 on bad arguments.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/vulkan_loader.h"
#include "petrel/engine.h"
#include "tools/tool_args.h"

namespace {

// Deterministic token ids (xorshift32), the same on every run.
std::vector<int32_t> tokens_for(int64_t n, int32_t n_vocab, uint32_t seed) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  uint32_t s = seed != 0 ? seed : 1;
  for (auto& x : t) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = static_cast<int32_t>(s % static_cast<uint32_t>(n_vocab));
  }
  return t;
}

// Seconds of one run from the base context (empty, or -d tokens deep): the prompt (n_prompt > 0)
// or n_gen single steps. The session is reused and rewound to its base snapshot, as petrel bench
// does: a fresh session would fault in its scratch buffers again on every run.
// Every run gets its own tokens (`run` seeds them): with expert offload, repeating one sequence
// would replay its routing and let the expert cache learn the benchmark instead of the model.
bool run_once(petrel::Session& s, const std::vector<uint8_t>& base, int64_t n_prompt, int64_t n_gen, uint32_t run,
              double* seconds) {
  petrel::Status st = s.restore(base.data(), base.size());
  const int32_t n_vocab = s.model().info().n_vocab;
  const std::vector<int32_t> p = tokens_for(n_prompt, n_vocab, 2 * run + 1);
  const std::vector<int32_t> g = tokens_for(n_gen, n_vocab, 2 * run + 2);
  const auto t0 = std::chrono::steady_clock::now();
  if (st.ok() && n_prompt > 0) st = s.evaluate(p.data(), n_prompt, petrel::LogitsMode::last);
  for (int64_t i = 0; st.ok() && i < n_gen; ++i) st = s.evaluate(&g[static_cast<size_t>(i)], 1, petrel::LogitsMode::last);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) std::fprintf(stderr, "petrel_bench: %s\n", st.message().c_str());
  return st.ok();
}

// "512" or "0,16384": whole numbers in [lo, 1 << 20], at least one.
bool parse_list(const char* s, int64_t lo, std::vector<int64_t>* out) {
  out->clear();
  std::string item;
  for (const char* c = s;; ++c) {
    if (*c == ',' || *c == '\0') {
      int64_t v = 0;
      if (!petrel::tools::parse_count(item.c_str(), lo, 1 << 20, &v)) return false;
      out->push_back(v);
      item.clear();
      if (*c == '\0') return true;
    } else {
      item += *c;
    }
  }
}

int list_devices() {
  const petrel::VulkanProbe& probe = petrel::vulkan_probe();
  std::printf("Vulkan library: %s\n", probe.library_loaded ? probe.library_path.c_str() : "(not loaded)");
  for (size_t i = 0; i < probe.device_names.size(); ++i) std::printf("  Vulkan%zu: %s\n", i, probe.device_names[i].c_str());
  if (!probe.reason.empty()) std::printf("  (%s)\n", probe.reason.c_str());
  return petrel::vulkan_available() ? 0 : 1;
}

}  // namespace

constexpr const char* kUsage =
    "usage: petrel_bench <model.gguf> [-p 512] [-n 128] [-d 0] [-r 5] [-t threads] [--device auto|cpu|vulkan] [-ngl N]\n"
    "                    [--vram GiB --device simulated]\n"
    "       petrel_bench --list-devices\n"
    "  -p, -n and -d take comma-separated lists (-d 0,16384)\n";

int main(int argc, char** argv) {
  std::string path, device;
  std::vector<int64_t> prompts{512}, gens{128}, depths{0};
  int64_t reps = 5, threads = 0, ngl = -1;
  bool threads_given = false;
  double vram_gib = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--list-devices") return list_devices();
    if (a == "--vram" || a == "--device") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "petrel_bench: %s wants a value\n", a.c_str());
        return 2;
      }
      const std::string v = argv[++i];
      if (a == "--device") {
        if (v != "auto" && v != "cpu" && v != "vulkan" && v != "simulated") {
          std::fprintf(stderr, "petrel_bench: --device wants auto, cpu, vulkan or simulated (with --vram)\n");
          return 2;
        }
        device = v;
        continue;
      }
      char* end = nullptr;
      vram_gib = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(vram_gib > 0) || vram_gib > 1e6) {
        std::fprintf(stderr, "petrel_bench: --vram wants a size in GiB > 0\n");
        return 2;
      }
      continue;
    }
    std::vector<int64_t>* list = a == "-p" ? &prompts : a == "-n" ? &gens : a == "-d" ? &depths : nullptr;
    if (list != nullptr) {
      if (i + 1 >= argc || !parse_list(argv[++i], 0, list)) {
        std::fprintf(stderr, "petrel_bench: %s wants whole numbers >= 0, separated by commas\n", a.c_str());
        return 2;
      }
      continue;
    }
    int64_t* target = a == "-r" ? &reps : a == "-t" ? &threads : a == "-ngl" || a == "--n-gpu-layers" ? &ngl : nullptr;
    if (target != nullptr) {
      const int64_t lo = target == &ngl ? 0 : 1;
      if (i + 1 >= argc || !petrel::tools::parse_count(argv[++i], lo, 1 << 20, target)) {
        std::fprintf(stderr, "petrel_bench: %s wants a whole number >= %lld\n", a.c_str(), static_cast<long long>(lo));
        return 2;
      }
      threads_given = threads_given || target == &threads;
    } else if (path.empty() && a[0] != '-') {
      path = a;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const bool offload = vram_gib > 0;
  if (offload != (device == "simulated")) {
    std::fprintf(stderr, "petrel_bench: --vram and --device simulated go together\n");
    return 2;
  }
  petrel::ModelOptions mo;
  mo.n_threads = static_cast<int>(threads);
  if (device == "auto") mo.device = petrel::DeviceChoice::auto_select;
  if (device == "vulkan") mo.device = petrel::DeviceChoice::vulkan;
  mo.n_gpu_layers = static_cast<int32_t>(ngl);
  // The plan counts the KV cache at the default context length: make that the tests' own.
  const int64_t longest = std::max<int64_t>(std::max(*std::max_element(prompts.begin(), prompts.end()),
                                                     *std::max_element(gens.begin(), gens.end())),
                                            1);
  const int64_t context = *std::max_element(depths.begin(), depths.end()) + longest;
  mo.context_length = context;
  if (offload) {
    mo.offload.device = petrel::OffloadDevice::simulated;
    mo.offload.vram_bytes = static_cast<uint64_t>(vram_gib * 1073741824.0);
  }
  std::shared_ptr<petrel::Model> model;
  const petrel::Status st = petrel::Model::load(path, mo, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_bench: %s\n", st.message().c_str());
    return 1;
  }
  const petrel::ModelInfo& info = model->info();
  const std::string backend = info.backend.empty() ? "CPU" : info.backend;
  const bool on_cpu = backend == "CPU";
  if (!info.device_name.empty()) std::fprintf(stderr, "petrel_bench: %s on %s\n", backend.c_str(), info.device_name.c_str());
  if (!info.device_note.empty()) std::fprintf(stderr, "petrel_bench: %s\n", info.device_note.c_str());
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const std::string file = path.substr(path.find_last_of('/') + 1);  // npos + 1 == 0: the whole path
  std::unique_ptr<petrel::Session> session;
  std::vector<uint8_t> empty;
  petrel::SessionOptions so;
  so.context_length = context;
  petrel::Status sst = model->create_session(so, &session);
  if (sst.ok()) sst = session->snapshot(&empty);
  if (!sst.ok()) {
    std::fprintf(stderr, "petrel_bench: %s\n", sst.message().c_str());
    return 1;
  }
  if (offload) std::printf("%s\n\n", model->offload_stats().placement.c_str());
  // llama-bench's columns: ngl where a GPU runs the model, threads where the CPU does.
  const bool show_ngl = !on_cpu;
  const bool show_threads = on_cpu || threads_given;
  const int64_t ngl_shown = ngl >= 0 ? ngl : info.n_layer;
  std::string head = "| model | backend |", rule = "| --- | --- |";
  if (show_ngl) head += " ngl |", rule += " ---: |";
  if (show_threads) head += " threads |", rule += " ---: |";
  head += " test | t/s |";
  rule += " ---: | ---: |";
  if (offload) head += " hit % | MB up/token |", rule += " ---: | ---: |";
  std::printf("%s\n%s\n", head.c_str(), rule.c_str());
  std::fflush(stdout);

  struct Test { const char* kind; int64_t n; };
  std::vector<Test> tests;
  for (int64_t p : prompts) if (p > 0) tests.push_back({"pp", p});
  for (int64_t n : gens) if (n > 0) tests.push_back({"tg", n});
  for (int64_t depth : depths) {
    std::vector<uint8_t> base;
    sst = session->restore(empty.data(), empty.size());
    if (sst.ok() && depth > 0) {
      const std::vector<int32_t> d = tokens_for(depth, info.n_vocab, 0x5eed);
      sst = session->evaluate(d.data(), depth, petrel::LogitsMode::last);
    }
    if (sst.ok()) sst = session->snapshot(&base);
    if (!sst.ok()) {
      std::fprintf(stderr, "petrel_bench: %s\n", sst.message().c_str());
      return 1;
    }
    for (const Test& t : tests) {
      const bool pp = t.kind[0] == 'p';
      double seconds = 0;
      if (!run_once(*session, base, pp ? t.n : 0, pp ? 0 : t.n, 0, &seconds)) return 1;  // warm-up
      // A backend that computes NaNs fast has measured nothing.
      for (float x : session->logits()) {
        if (!std::isfinite(x)) {
          std::fprintf(stderr, "petrel_bench: %s%lld: the logits are not finite\n", t.kind, static_cast<long long>(t.n));
          return 1;
        }
      }
      std::vector<double> rates;
      const petrel::OffloadStats before = model->offload_stats();
      for (int64_t r = 0; r < reps; ++r) {
        if (!run_once(*session, base, pp ? t.n : 0, pp ? 0 : t.n, static_cast<uint32_t>(r + 1), &seconds)) return 1;
        rates.push_back(static_cast<double>(t.n) / seconds);
      }
      double mean = 0, var = 0;
      for (double x : rates) mean += x / static_cast<double>(rates.size());
      for (double x : rates) var += (x - mean) * (x - mean);
      const double sd = rates.size() > 1 ? std::sqrt(var / static_cast<double>(rates.size() - 1)) : 0.0;
      const std::string at = depth > 0 ? " @ d" + std::to_string(depth) : "";
      std::printf("| %s | %s |", file.c_str(), backend.c_str());
      if (show_ngl) std::printf(" %lld |", static_cast<long long>(ngl_shown));
      if (show_threads) std::printf(" %lld |", static_cast<long long>(threads));
      std::printf(" %s%lld%s | %.2f ± %.2f |", t.kind, static_cast<long long>(t.n), at.c_str(), mean, sd);
      if (offload) {
        // Over the timed runs: rows the device computed, and bytes uploaded per token.
        const petrel::OffloadStats after = model->offload_stats();
        const double rows = static_cast<double>(after.rows_selected - before.rows_selected);
        const double hit = rows > 0 ? 100.0 * static_cast<double>(after.rows_on_device - before.rows_on_device) / rows : 0.0;
        const double tokens = static_cast<double>(t.n * reps);
        std::printf(" %.1f | %.2f |", hit, static_cast<double>(after.bytes_uploaded - before.bytes_uploaded) / tokens / 1e6);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
