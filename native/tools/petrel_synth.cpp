// petrel_synth <recipe.gguf> <out.gguf> [--layers N] [--type q4_k_m | --random-blocks] [--threads N]
// petrel_synth --verify <model.gguf> [--threads N]
//
// Writes the synthetic model a recipe describes (synth/recipe.h), without Node: `petrel synth
// <preset> <file> --recipe` makes the recipe where Node runs, and this tool makes the model file
// where it does not (the GPU machine).
//   (plain)          the same file as `petrel synth`: the recipe's values, quantized by the writer
//   --layers N       only blocks 0 .. N-1, N a multiple of 4 (the blocks `petrel synth --layers N`
//                    writes; its file has the smaller model's general.size_label too)
//   --type T         the types llama-quantize gives each tensor for T (q4_k_m, q8_0, ... as
//                    `petrel quantize` names them), written as random blocks: tens of GB a minute
//   --random-blocks  the recipe's own types, written as random blocks (synth/random_blocks.h)
//   --verify FILE    dequantizes every tensor of FILE and prints each one's type, shape, mean and
//                    standard deviation; exit 1 if any value is not finite
// Exit 0 on success, 1 on a failure (one line on stderr), 2 on bad arguments.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gguf/reader.h"
#include "quant/convert.h"
#include "quantize/ftype.h"
#include "synth/block_writer.h"
#include "synth/recipe.h"
#include "tools/tool_args.h"

namespace {

constexpr const char* kUsage =
    "usage: petrel_synth <recipe.gguf> <out.gguf> [--layers N] [--type q4_k_m | --random-blocks] [--threads N]\n"
    "       petrel_synth --verify <model.gguf> [--threads N]\n";

std::string shape_of(const petrel::GgufTensorInfo& t) {
  std::string s;
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    if (d > 0) s += 'x';
    s += std::to_string(t.ne[d]);
  }
  return s;
}

// Every value of every tensor, dequantized on `threads` threads a row range at a time.
int verify(const std::string& path, unsigned threads) {
  std::unique_ptr<petrel::GgufFile> f;
  petrel::Status st = petrel::GgufFile::open(path, &f);
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_synth: %s\n", st.message().c_str());
    return 1;
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  uint64_t bad_total = 0;
  std::printf("| tensor | type | shape | mean | std | not finite |\n| --- | --- | --- | ---: | ---: | ---: |\n");
  for (const petrel::GgufTensorInfo& t : f->tensors()) {
    const petrel::GgmlType type = t.type->type;
    if (!petrel::can_dequantize(type)) {
      std::printf("| %s | %s | %s | (cannot dequantize) | | |\n", t.name.c_str(), t.type->name, shape_of(t).c_str());
      continue;
    }
    const uint64_t row = static_cast<uint64_t>(t.ne[0]);
    const uint64_t rows = t.n_elements / row;
    const uint64_t row_bytes = row / t.type->block_size * t.type->type_size;
    std::vector<double> sum(threads), sq(threads);
    std::vector<uint64_t> bad(threads);
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&](unsigned w) {
      std::vector<float> out(static_cast<size_t>(row));
      for (uint64_t r; (r = next.fetch_add(1)) < rows;) {
        if (!petrel::dequantize_row(type, t.data + r * row_bytes, out.data(), static_cast<int64_t>(row)).ok()) failed = true;
        for (float x : out) {
          if (!std::isfinite(x)) {
            ++bad[w];
            continue;
          }
          sum[w] += x;
          sq[w] += static_cast<double>(x) * x;
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < threads; ++w) pool.emplace_back(work, w);
    work(0);
    for (std::thread& th : pool) th.join();
    double s = 0, q = 0;
    uint64_t b = 0;
    for (unsigned w = 0; w < threads; ++w) s += sum[w], q += sq[w], b += bad[w];
    const double n = static_cast<double>(t.n_elements - b);
    const double mean = n > 0 ? s / n : 0, var = n > 0 ? std::max(0.0, q / n - mean * mean) : 0;
    std::printf("| %s | %s | %s | %.4g | %.4g | %llu |\n", t.name.c_str(), t.type->name, shape_of(t).c_str(), mean,
                std::sqrt(var), static_cast<unsigned long long>(b));
    if (failed) {
      std::fprintf(stderr, "petrel_synth: %s: cannot dequantize\n", t.name.c_str());
      return 1;
    }
    bad_total += b;
  }
  if (bad_total > 0) {
    std::fprintf(stderr, "petrel_synth: %s: %llu values are not finite\n", path.c_str(), static_cast<unsigned long long>(bad_total));
    return 1;
  }
  std::printf("%s: every value finite\n", path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string recipe, out, verify_path, type_name;
  unsigned threads = 0;
  int64_t layers = 0;
  bool random_blocks = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--threads" || a == "--layers") {
      int64_t v = 0;
      if (!has_value || !petrel::tools::parse_count(argv[++i], 1, 4096, &v)) {
        std::fprintf(stderr, "petrel_synth: %s wants a whole number in 1..4096\n", a.c_str());
        return 2;
      }
      if (a == "--threads") threads = static_cast<unsigned>(v);
      else layers = v;
    } else if (a == "--type" && has_value) {
      type_name = argv[++i];
    } else if (a == "--verify" && has_value) {
      verify_path = argv[++i];
    } else if (a == "--random-blocks") {
      random_blocks = true;
    } else if (!a.empty() && a[0] != '-' && recipe.empty()) {
      recipe = a;
    } else if (!a.empty() && a[0] != '-' && out.empty()) {
      out = a;
    } else {
      std::fprintf(stderr, "petrel_synth: unexpected argument %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (!verify_path.empty()) {
    if (!recipe.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    return verify(verify_path, threads);
  }
  if (out.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const petrel::QuantType* qtype = nullptr;
  if (!type_name.empty()) {
    qtype = petrel::find_quant_type(type_name);
    if (qtype == nullptr) {
      std::fprintf(stderr, "petrel_synth: unknown --type %s (petrel quantize --help lists them)\n", type_name.c_str());
      return 2;
    }
    random_blocks = true;
  }

  // On a terminal a line that counts up; in a log a line every 25%.
  const bool tty = ::isatty(2) != 0;
  int last_pct = -1;
  auto progress = [&](uint64_t written, uint64_t total) {
    int pct = total > 0 ? static_cast<int>(written * 100 / total) : 100;
    if (!tty) pct -= pct % 25;
    if (pct == last_pct) return;
    last_pct = pct;
    std::fprintf(stderr, "%swriting %d%% (%.2f of %.2f GiB)%s", tty ? "\r" : "", pct, written / 1073741824.0,
                 total / 1073741824.0, tty ? "" : "\n");
  };
  const auto t0 = std::chrono::steady_clock::now();
  petrel::Status st;
  if (!random_blocks && layers == 0) {
    petrel::GgufWriteOptions options;
    options.threads = threads;
    options.progress = progress;
    st = petrel::write_from_recipe(recipe, out, options);
  } else {
    petrel::SynthPlan plan;
    st = petrel::read_recipe(recipe, &plan);
    if (st.ok() && layers > 0) st = petrel::recipe_keep_layers(&plan, static_cast<int>(layers));
    if (st.ok() && qtype != nullptr) st = petrel::recipe_quant_mix(&plan, *qtype);
    if (st.ok() && random_blocks) {
      petrel::BlockWriteOptions options;
      options.threads = threads;
      options.progress = progress;
      st = petrel::write_random_blocks(plan, out, options);
    } else if (st.ok()) {
      petrel::GgufWriteOptions options;
      options.threads = threads;
      options.progress = progress;
      petrel::GgufWriter writer(options);
      st = petrel::add_plan(std::move(plan), &writer);
      if (st.ok()) st = writer.write(out);
    }
  }
  if (last_pct >= 0 && tty) std::fprintf(stderr, "\n");
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_synth: %s\n", st.message().c_str());
    return 1;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s (%.1f s)\n", out.c_str(), s);
  return 0;
}
