// petrel_quantize <in.gguf> <out.gguf> <type> [--threads N] [--force]: `petrel quantize` for a
// GGUF input, without Node (quantize/quantize_model.h does the work for both), so a synthetic
// model made by petrel_synth can be quantized where Node does not run. Exit 0 on success, 1 on a
// failure (one line on stderr), 2 on bad arguments.
#include <chrono>
#include <cstdio>
#include <string>

#include "quantize/quantize_model.h"
#include "tools/tool_args.h"

int main(int argc, char** argv) {
  petrel::QuantizeOptions options;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      int64_t v = 0;
      if (!petrel::tools::parse_count(argv[++i], 1, 4096, &v)) {
        std::fprintf(stderr, "petrel_quantize: --threads wants a whole number in 1..4096\n");
        return 2;
      }
      options.threads = static_cast<unsigned>(v);
    } else if (a == "--force") {
      options.force = true;
    } else if (positional == 0) {
      options.input = a, ++positional;
    } else if (positional == 1) {
      options.output = a, ++positional;
    } else if (positional == 2) {
      options.type = a, ++positional;
    } else {
      positional = 99;
    }
  }
  if (positional != 3) {
    std::fprintf(stderr, "usage: petrel_quantize <in.gguf> <out.gguf> <type> [--threads N] [--force]\n");
    return 2;
  }
  int last_pct = -1;
  options.progress = [&](const petrel::QuantizeProgress& p) {
    const int pct = p.total_bytes > 0 ? static_cast<int>(p.done_bytes * 100 / p.total_bytes) : 100;
    if (pct == last_pct) return;
    last_pct = pct;
    std::fprintf(stderr, "\rquantizing %d%% (tensor %u of %u)", pct, p.tensor_index, p.n_tensors);
  };
  const auto t0 = std::chrono::steady_clock::now();
  petrel::QuantizeSummary summary;
  const petrel::Status st = petrel::quantize_gguf(options, &summary);
  if (last_pct >= 0) std::fprintf(stderr, "\n");
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_quantize: %s\n", st.message().c_str());
    return 1;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu tensors, %.2f GiB (%.1f s)\n", options.output.c_str(), summary.tensors.size(),
              summary.output_file_bytes / 1073741824.0, s);
  return 0;
}
