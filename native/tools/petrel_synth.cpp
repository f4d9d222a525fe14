// petrel_synth <recipe.gguf> <out.gguf> [--threads N]: writes the synthetic model a recipe
// describes (synth/recipe.h), without Node: `petrel synth <preset> <file> --recipe` makes the
// recipe where Node runs, and this tool makes the same model file where it does not (the GPU
// machine). Exit 0 on success, 1 on a failure (one line on stderr), 2 on bad arguments.
#include <chrono>
#include <cstdio>
#include <string>

#include "synth/recipe.h"
#include "tools/tool_args.h"

int main(int argc, char** argv) {
  std::string recipe, out;
  unsigned threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      int64_t v = 0;
      if (!petrel::tools::parse_count(argv[++i], 1, 4096, &v)) {
        std::fprintf(stderr, "petrel_synth: --threads wants a whole number in 1..4096\n");
        return 2;
      }
      threads = static_cast<unsigned>(v);
    } else if (recipe.empty()) {
      recipe = a;
    } else if (out.empty()) {
      out = a;
    } else {
      std::fprintf(stderr, "petrel_synth: unexpected argument %s\nusage: petrel_synth <recipe.gguf> <out.gguf> [--threads N]\n",
                   a.c_str());
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: petrel_synth <recipe.gguf> <out.gguf> [--threads N]\n");
    return 2;
  }
  petrel::GgufWriteOptions options;
  options.threads = threads;
  int last_pct = -1;
  options.progress = [&](uint64_t written, uint64_t total) {
    const int pct = total > 0 ? static_cast<int>(written * 100 / total) : 100;
    if (pct == last_pct) return;
    last_pct = pct;
    std::fprintf(stderr, "\rwriting %d%% (%.2f of %.2f GiB)", pct, written / 1073741824.0, total / 1073741824.0);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const petrel::Status st = petrel::write_from_recipe(recipe, out, options);
  if (last_pct >= 0) std::fprintf(stderr, "\n");
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_synth: %s\n", st.message().c_str());
    return 1;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s (%.1f s)\n", out.c_str(), s);
  return 0;
}
