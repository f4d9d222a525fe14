// petrel_bench <model.gguf> [-p N] [-n N] [-r N] [-t N]: pp and tg throughput as `petrel bench`
// measures it (src/bench/: a pp test is one N-token prompt into an empty context, a tg test N
// one-token steps from an empty context, each with the last logits computed and nothing sampled;
// one untimed warm-up run per test), for machines without Node, next to llama-bench built there.
// Prints llama-bench's Markdown columns. Exit 0, 1 on a failure (one line on stderr), 2 on bad
// arguments.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "petrel/engine.h"

namespace {

bool parse_count(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

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

// Seconds of one run from an empty context: the prompt (n_prompt > 0) or n_gen single steps. The
// session is reused and rewound to its empty snapshot, as petrel bench does: a fresh session
// would fault in its scratch buffers again on every run.
bool run_once(petrel::Session& s, const std::vector<uint8_t>& empty, int64_t n_prompt, int64_t n_gen, double* seconds) {
  petrel::Status st = s.restore(empty.data(), empty.size());
  const int32_t n_vocab = s.model().info().n_vocab;
  const std::vector<int32_t> p = tokens_for(n_prompt, n_vocab, 1);
  const std::vector<int32_t> g = tokens_for(n_gen, n_vocab, 2);
  const auto t0 = std::chrono::steady_clock::now();
  if (st.ok() && n_prompt > 0) st = s.evaluate(p.data(), n_prompt, petrel::LogitsMode::last);
  for (int64_t i = 0; st.ok() && i < n_gen; ++i) st = s.evaluate(&g[static_cast<size_t>(i)], 1, petrel::LogitsMode::last);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) std::fprintf(stderr, "petrel_bench: %s\n", st.message().c_str());
  return st.ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int64_t n_prompt = 512, n_gen = 128, reps = 5, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    int64_t* target = a == "-p" ? &n_prompt : a == "-n" ? &n_gen : a == "-r" ? &reps : a == "-t" ? &threads : nullptr;
    if (target != nullptr) {
      const int64_t lo = target == &reps || target == &threads ? 1 : 0;
      if (i + 1 >= argc || !parse_count(argv[++i], lo, 1 << 20, target)) {
        std::fprintf(stderr, "petrel_bench: %s wants a whole number >= %lld\n", a.c_str(), static_cast<long long>(lo));
        return 2;
      }
    } else if (path.empty() && a[0] != '-') {
      path = a;
    } else {
      std::fprintf(stderr, "usage: petrel_bench <model.gguf> [-p 512] [-n 128] [-r 5] [-t threads]\n");
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: petrel_bench <model.gguf> [-p 512] [-n 128] [-r 5] [-t threads]\n");
    return 2;
  }
  petrel::ModelOptions mo;
  mo.n_threads = static_cast<int>(threads);
  std::shared_ptr<petrel::Model> model;
  const petrel::Status st = petrel::Model::load(path, mo, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_bench: %s\n", st.message().c_str());
    return 1;
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const std::string file = path.substr(path.find_last_of('/') + 1);  // npos + 1 == 0: the whole path
  std::unique_ptr<petrel::Session> session;
  std::vector<uint8_t> empty;
  petrel::SessionOptions so;
  so.context_length = std::max<int64_t>(std::max(n_prompt, n_gen), 1);
  petrel::Status sst = model->create_session(so, &session);
  if (sst.ok()) sst = session->snapshot(&empty);
  if (!sst.ok()) {
    std::fprintf(stderr, "petrel_bench: %s\n", sst.message().c_str());
    return 1;
  }
  std::printf("| model | threads | test | t/s |\n| --- | ---: | ---: | ---: |\n");
  struct Test { const char* kind; int64_t n; };
  for (const Test& t : {Test{"pp", n_prompt}, Test{"tg", n_gen}}) {
    if (t.n == 0) continue;
    const bool pp = t.kind[0] == 'p';
    double seconds = 0;
    if (!run_once(*session, empty, pp ? t.n : 0, pp ? 0 : t.n, &seconds)) return 1;  // warm-up
    std::vector<double> rates;
    for (int64_t r = 0; r < reps; ++r) {
      if (!run_once(*session, empty, pp ? t.n : 0, pp ? 0 : t.n, &seconds)) return 1;
      rates.push_back(static_cast<double>(t.n) / seconds);
    }
    double mean = 0, var = 0;
    for (double x : rates) mean += x / static_cast<double>(rates.size());
    for (double x : rates) var += (x - mean) * (x - mean);
    const double sd = rates.size() > 1 ? std::sqrt(var / static_cast<double>(rates.size() - 1)) : 0.0;
    std::printf("| %s | %lld | %s%lld | %.2f ± %.2f |\n", file.c_str(), static_cast<long long>(threads), t.kind,
                static_cast<long long>(t.n), mean, sd);
    std::fflush(stdout);
  }
  return 0;
}
