// Sampling chain (see sampler.h). Candidates are ordered by (logit desc, id asc), a strict total
// order, so the chosen token never depends on the sort algorithm or the platform.
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace petrel {

namespace {

uint64_t splitmix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

Status bad_param(const char* name, const std::string& why) {
  return Status(StatusCode::invalid_argument, std::string("sampling parameter ") + name + " " + why);
}

// Whether any penalty changes a logit.
bool penalties_apply(const SamplingParams& p, size_t n_history) {
  const bool active = p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  return active && p.penalty_last_n != 0 && n_history > 0;
}

// The penalties of llama.cpp's llama_sampler_penalties over the window's token counts.
void apply_penalties(std::vector<float>& logits, const SamplingParams& p, const int32_t* history, size_t n_history,
                     SamplerScratch& scratch) {
  const size_t window = p.penalty_last_n < 0 ? n_history : std::min(n_history, static_cast<size_t>(p.penalty_last_n));
  std::vector<int32_t>& tail = scratch.counts;
  tail.assign(history + (n_history - window), history + n_history);
  std::sort(tail.begin(), tail.end());
  const int32_t n_vocab = static_cast<int32_t>(logits.size());
  for (size_t i = 0; i < tail.size();) {
    size_t j = i;
    while (j < tail.size() && tail[j] == tail[i]) ++j;
    const int32_t id = tail[i];
    const float count = static_cast<float>(j - i);
    i = j;
    if (id < 0 || id >= n_vocab) continue;
    float& l = logits[static_cast<size_t>(id)];
    l = l <= 0.0f ? l * p.repeat_penalty : l / p.repeat_penalty;
    l -= count * p.frequency_penalty + p.presence_penalty;
  }
}

int32_t argmax(const float* logits, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// The k first ids of [0, n) in the order `before`, sorted: one pass keeping the k best in a heap
// whose top is the worst of them, so most ids cost one comparison of two floats (a partial sort
// of all 248K ids through the comparator cost a noticeable part of a decode step; docs/PERFORMANCE.md#single-kernels).
template <typename Before>
void top_k_ids(const float* logits, int32_t n, size_t k, Before before, std::vector<int32_t>& ids) {
  ids.clear();
  for (int32_t i = 0; i < n; ++i) {
    if (ids.size() < k) {
      ids.push_back(i);
      std::push_heap(ids.begin(), ids.end(), before);
    } else if (!(logits[i] < logits[ids.front()]) && before(i, ids.front())) {
      std::pop_heap(ids.begin(), ids.end(), before);
      ids.back() = i;
      std::push_heap(ids.begin(), ids.end(), before);
    }
  }
  std::sort(ids.begin(), ids.end(), before);
}

}  // namespace

void Rng::seed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : state) s = splitmix64(&x);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(state[1] * 5, 7) * 9;
  const uint64_t t = state[1] << 17;
  state[2] ^= state[0];
  state[3] ^= state[1];
  state[1] ^= state[2];
  state[0] ^= state[3];
  state[2] ^= t;
  state[3] = rotl(state[3], 45);
  return result;
}

Status validate_sampling(const SamplingParams& p) {
  if (!std::isfinite(p.temperature)) return bad_param("temperature", "must be a finite number");
  if (!std::isfinite(p.top_p) || p.top_p < 0.0f) return bad_param("topP", "must be a number >= 0");
  if (!std::isfinite(p.min_p) || p.min_p < 0.0f || p.min_p > 1.0f) return bad_param("minP", "must be in [0, 1]");
  if (!std::isfinite(p.repeat_penalty) || p.repeat_penalty <= 0.0f) {
    return bad_param("repeatPenalty", "must be a number > 0");
  }
  if (!std::isfinite(p.presence_penalty)) return bad_param("presencePenalty", "must be a finite number");
  if (!std::isfinite(p.frequency_penalty)) return bad_param("frequencyPenalty", "must be a finite number");
  if (p.penalty_last_n < -1) return bad_param("penaltyLastN", "must be -1 (whole history) or >= 0");
  return Status();
}

Status sample_token(const float* logits_in, int32_t n_vocab, const SamplingParams& p, const int32_t* history,
                    size_t n_history, Rng& rng, SamplerScratch& scratch, int32_t* out) {
  PETREL_RETURN_IF_ERROR(validate_sampling(p));
  if (n_vocab <= 0) return Status(StatusCode::invalid_argument, "sample: empty vocabulary");
  // The logits are copied only when penalties change them.
  const float* logits = logits_in;
  if (penalties_apply(p, n_history)) {
    scratch.logits.assign(logits_in, logits_in + n_vocab);
    apply_penalties(scratch.logits, p, history, n_history, scratch);
    logits = scratch.logits.data();
  }

  if (p.temperature <= 0.0f || p.top_k == 1) {
    *out = argmax(logits, n_vocab);
    return Status();
  }

  std::vector<int32_t>& ids = scratch.ids;
  auto before = [&](int32_t a, int32_t b) {
    const float la = logits[a];
    const float lb = logits[b];
    return la > lb || (la == lb && a < b);
  };
  size_t n = static_cast<size_t>(n_vocab);
  bool sorted = false;
  // top-k: keep the k best (sorted).
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) {
    top_k_ids(logits, n_vocab, static_cast<size_t>(p.top_k), before, ids);
    n = static_cast<size_t>(p.top_k);
    sorted = true;
  } else {
    ids.resize(n);
    for (int32_t i = 0; i < n_vocab; ++i) ids[static_cast<size_t>(i)] = i;
  }
  // top-p: the smallest prefix (by probability) whose mass reaches p, at least one token.
  if (p.top_p < 1.0f) {
    if (!sorted) std::sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n), before);
    sorted = true;
    const float max_l = logits[ids[0]];
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(logits[ids[i]]) - max_l);
    double cum = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += std::exp(static_cast<double>(logits[ids[i]]) - max_l) / total;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = std::max<size_t>(keep, 1);
  }
  // min-p: drop tokens whose probability is below min_p times the best one's.
  if (p.min_p > 0.0f) {
    float max_l = -INFINITY;
    for (size_t i = 0; i < n; ++i) max_l = std::max(max_l, logits[ids[i]]);
    const float threshold = max_l + std::log(p.min_p);
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
      if (logits[ids[i]] >= threshold) ids[kept++] = ids[i];
    }
    n = std::max<size_t>(kept, 1);
  }
  // Temperature, softmax, draw.
  std::vector<float>& probs = scratch.probs;
  probs.resize(n);
  float max_l = -INFINITY;
  for (size_t i = 0; i < n; ++i) max_l = std::max(max_l, logits[ids[i]]);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    probs[i] = static_cast<float>(std::exp((static_cast<double>(logits[ids[i]]) - max_l) /
                                           p.temperature));
    total += probs[i];
  }
  const double r = rng.uniform() * total;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs[i];
    if (r < cum) {
      *out = ids[i];
      return Status();
    }
  }
  *out = ids[n - 1];  // r landed on the rounding slack at the top
  return Status();
}

}  // namespace petrel
