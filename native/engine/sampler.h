// Token sampling over the full vocabulary, in C++ so no logits cross into JavaScript per token.
// The chain follows llama.cpp's common sampler order: repetition/presence/frequency penalties over
// the last N tokens, top-k, top-p, min-p, temperature, then one draw from a seeded xoshiro256**
// stream. Greedy (temperature <= 0 or top_k == 1) is the argmax after penalties, lowest id on ties.
#pragma once

#include <cstdint>
#include <vector>

#include "petrel/engine.h"
#include "petrel/status.h"

namespace petrel {

// xoshiro256** (Blackman & Vigna), seeded through splitmix64: tiny state (saved in snapshots),
// identical streams on every platform.
class Rng {
 public:
  Rng() { seed(0); }
  void seed(uint64_t seed);
  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

  uint64_t state[4] = {0, 0, 0, 0};
};

struct SamplerScratch {
  std::vector<float> logits;
  std::vector<int32_t> ids;
  std::vector<float> probs;
  std::vector<int32_t> counts;  // token counts of the penalty window (sparse use)
};

// Checks the parameters (finite, in range); invalid_argument names the bad one.
Status validate_sampling(const SamplingParams& params);

// Picks a token from `logits` (n_vocab floats). `history` is every token so far (the penalty
// window is its tail).
Status sample_token(const float* logits, int32_t n_vocab, const SamplingParams& params, const int32_t* history,
                    size_t n_history, Rng& rng, SamplerScratch& scratch, int32_t* out);

}  // namespace petrel
