// The whole forward pass on the Vulkan backend (backend/vulkan/vulkan_backend.h) against the CPU
// backend, on the tiny models of tests/engine/tiny_model_file.h: qwen3 (attention only, dense
// FFN), qwen35moe (DeltaNet, gated attention, MoE with a shared expert) and qwen3next (grouped
// value heads read through ssm_ba views). A prompt of 21 tokens with every row's logits, then
// decode steps; the decode steps after the first replay its recording, so a replay that read a
// stale token or position would show here. The two backends round differently (other summation
// orders, fp16 rounding of the KV cache is the same), so the logits agree to a tolerance, and
// the greedy token of every row is the same.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/vulkan_backend.h"
#include "gguf/model_files.h"
#include "model/qwen35/forward.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/state.h"
#include "model/qwen35/weights.h"
#include "tests/engine/tiny_model_file.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test_models::Kind;
using test_models::kVocab;

struct Run {
  std::vector<float> logits;  // every call's rows, concatenated
  Status status;
};

// Prompt of 21 tokens (every row), then 4 decode steps (last row each).
Run run(const qwen35::Hparams& hp, const qwen35::ModelWeights& weights, Backend& backend) {
  Run r;
  qwen35::SequenceState st;
  qwen35::Workspace ws;
  r.status = qwen35::make_state(hp, backend, GgmlType::F16, &st);
  if (r.status.ok()) r.status = qwen35::reserve_kv(hp, backend, &st, 25, 256);
  if (r.status.ok()) r.status = qwen35::reserve_workspace(hp, backend, 21, &ws);
  if (!r.status.ok()) return r;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back((i * 17 + 3) % kVocab);
  std::vector<float> logits;
  r.status = qwen35::forward(hp, weights, backend, nullptr, ws, &st, prompt.data(), 21, qwen35::OutputRows::all, &logits);
  r.logits = logits;
  for (int32_t token : {5, 11, 7, 42}) {
    if (!r.status.ok()) return r;
    r.status = qwen35::forward(hp, weights, backend, nullptr, ws, &st, &token, 1, qwen35::OutputRows::last, &logits);
    r.logits.insert(r.logits.end(), logits.begin(), logits.end());
  }
  return r;
}

int argmax(const float* row) {
  int best = 0;
  for (int i = 1; i < kVocab; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return best;
}

PETREL_TEST(vulkan_forward_matches_the_cpu_backend) {
  for (Kind kind : {Kind::qwen3, Kind::qwen35moe, Kind::qwen3next}) {
    const test_models::TinyModel m =
        test_models::open_tiny(kind, "/tmp/petrel-vulkan-forward-" + std::to_string(getpid()) + ".gguf");
    const qwen35::Hparams& hp = m.hp;
    const qwen35::ModelWeights& weights = m.weights;

    auto cpu = make_cpu_backend(2);
    std::unique_ptr<Backend> vulkan;
    const Status made = vk::make_vulkan_backend(&vulkan);
    PETREL_CHECK(made.ok());
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.message().c_str());
      return;
    }
    qwen35::ModelWeights on_cpu = weights, on_vulkan = weights;
    PETREL_CHECK(qwen35::prepare_vectors(*cpu, &on_cpu).ok());
    qwen35::for_each_matrix(&on_vulkan, [&](WeightView* w) { vulkan->prepare_weight(w, true); });
    vulkan->prepare_weight(&on_vulkan.token_embd.view, true);
    PETREL_CHECK(qwen35::prepare_vectors(*vulkan, &on_vulkan).ok());
    PETREL_CHECK(vulkan->sync().ok());

    const Run want = run(hp, on_cpu, *cpu);
    const vk::VulkanRunStats before = vk::vulkan_run_stats(*vulkan);
    const Run got = run(hp, on_vulkan, *vulkan);
    const vk::VulkanRunStats after = vk::vulkan_run_stats(*vulkan);
    // The 2nd to 4th decode steps record what the 1st did: replayed, not encoded again.
    PETREL_CHECK(after.replays - before.replays >= 3);
    PETREL_CHECK(want.status.ok());
    if (!got.status.ok()) {
      test::fail(__FILE__, __LINE__, std::string("arch ") + qwen35::arch_name(hp.arch) + ": " + got.status.message());
      continue;
    }
    PETREL_CHECK_EQ(got.logits.size(), static_cast<size_t>(25 * kVocab));
    PETREL_CHECK_EQ(want.logits.size(), got.logits.size());
    if (want.logits.size() != got.logits.size()) continue;
    double max_err = 0, max_ref = 0;
    int token_mismatches = 0;
    for (size_t row = 0; row < want.logits.size() / kVocab; ++row) {
      const float* w = want.logits.data() + row * kVocab;
      const float* g = got.logits.data() + row * kVocab;
      for (int i = 0; i < kVocab; ++i) {
        PETREL_CHECK(std::isfinite(g[i]));
        max_err = std::max(max_err, std::fabs(static_cast<double>(w[i]) - g[i]));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(w[i])));
      }
      if (argmax(w) != argmax(g)) ++token_mismatches;
    }
    std::printf("vulkan forward %s: max |logit diff| %.3g (largest logit %.3g), greedy mismatches %d of 25\n",
                qwen35::arch_name(hp.arch), max_err, max_ref, token_mismatches);
    PETREL_CHECK(max_err <= 1e-3 * std::max(1.0, max_ref));
    PETREL_CHECK_EQ(token_mismatches, 0);
    std::remove(m.path.c_str());
  }
}

}  // namespace
}  // namespace petrel
