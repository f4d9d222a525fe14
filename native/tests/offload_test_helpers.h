// Test helpers for the offload tests (offload_*_tests.cpp): temporary trace files and synthetic
// routing traces (Zipf popularity plus temporal locality, seeded).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "offload/device_model.h"
#include "offload/expert_cache.h"
#include "offload/routing_trace.h"
#include "offload/simulate.h"
#include "tests/test.h"

namespace petrel::offload_test {

using namespace offload;
using test::Rng;

inline std::string temp_path(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  return std::string(base && *base ? base : "/tmp") + "/petrel-offload-" + std::to_string(::getpid()) + "-" + tag + ".ptrt";
}

inline std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Qwen3.5-35B-A3B-like sizes (expert 3·2048·512 weights at ~4.85 bits), shrunk in layers/experts.
inline TraceModel synthetic_model(int32_t n_layers, int32_t n_expert, int32_t k) {
  TraceModel m;
  m.name = "synthetic";
  m.n_layers = n_layers;
  m.n_expert = n_expert;
  m.n_expert_used = k;
  m.n_embd = 2048;
  m.n_ff_exp = 512;
  m.expert_bytes = 1900000;
  m.dense_bytes = 1180000000;
  m.kv_bytes_per_token = 20480;
  m.state_bytes = 63000000;
  return m;
}

enum class Predictions { none, perfect, noisy };

struct SynthSpec {
  int32_t n_layers = 8, n_expert = 64, k = 4;
  int32_t n_steps = 400;
  double zipf = 1.0;      // popularity ∝ 1 / rank^zipf, ranks shuffled per layer
  double locality = 0.5;  // chance that a token's pick repeats one of the previous token's experts
  int32_t prefill_every = 0;   // every Nth step is a micro-batch of prefill_tokens (0: none)
  int32_t prefill_tokens = 64;
  Predictions predictions = Predictions::perfect;
  uint64_t seed = 1;
};

// A routing trace with Zipf popularity and temporal locality: what real routers look like in the
// shared docs' studies (skewed, with strong short-term reuse).
inline RoutingTrace synthetic_trace(const SynthSpec& sp) {
  Rng rng(sp.seed);
  RoutingTrace tr;
  tr.model = synthetic_model(sp.n_layers, sp.n_expert, sp.k);
  std::vector<double> cdf(static_cast<size_t>(sp.n_expert));
  double sum = 0;
  for (int32_t r = 0; r < sp.n_expert; ++r) cdf[static_cast<size_t>(r)] = (sum += 1.0 / std::pow(r + 1.0, sp.zipf));
  std::vector<std::vector<int32_t>> rank_to_expert(static_cast<size_t>(sp.n_layers));
  std::vector<std::vector<int32_t>> prev(static_cast<size_t>(sp.n_layers));
  for (auto& perm : rank_to_expert) {
    for (int32_t e = 0; e < sp.n_expert; ++e) perm.push_back(e);
    for (int32_t i = sp.n_expert - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[rng.u32() % (i + 1)]);
  }
  const auto pick = [&](int32_t l) {
    std::vector<int32_t> sel;
    const auto& p = prev[static_cast<size_t>(l)];
    while (static_cast<int32_t>(sel.size()) < sp.k) {
      int32_t e;
      if (!p.empty() && rng.uniform() < sp.locality) {
        e = p[rng.u32() % p.size()];
      } else {
        const double u = rng.uniform() * sum;
        const auto r = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
        e = rank_to_expert[static_cast<size_t>(l)][static_cast<size_t>(std::min<int64_t>(r, sp.n_expert - 1))];
      }
      if (std::find(sel.begin(), sel.end(), e) == sel.end()) sel.push_back(e);
    }
    prev[static_cast<size_t>(l)] = sel;
    return sel;
  };
  int64_t pos = 0;
  for (int32_t s = 0; s < sp.n_steps; ++s) {
    TraceStep st;
    st.pos0 = pos;
    st.n_tokens = sp.prefill_every > 0 && s % sp.prefill_every == 0 ? sp.prefill_tokens : 1;
    pos += st.n_tokens;
    st.layers.resize(static_cast<size_t>(sp.n_layers));
    for (int32_t l = 0; l < sp.n_layers; ++l) {
      std::map<int32_t, int32_t> rows;
      for (int32_t t = 0; t < st.n_tokens; ++t) {
        for (int32_t e : pick(l)) ++rows[e];
      }
      TraceLayer& tl = st.layers[static_cast<size_t>(l)];
      for (const auto& [e, n] : rows) {
        tl.experts.push_back(e);
        tl.rows.push_back(n);
      }
      if (sp.predictions == Predictions::none) continue;
      tl.predicted = tl.experts;
      std::stable_sort(tl.predicted.begin(), tl.predicted.end(),
                       [&](int32_t a, int32_t b) { return rows[a] > rows[b]; });
      if (sp.predictions == Predictions::noisy) {
        for (int32_t& e : tl.predicted) {
          if (rng.uniform() < 0.3f) e = static_cast<int32_t>(rng.u32() % static_cast<uint32_t>(sp.n_expert));
        }
      }
    }
    tr.steps.push_back(std::move(st));
  }
  return tr;
}

inline bool same_trace(const RoutingTrace& a, const RoutingTrace& b) {
  const TraceModel &x = a.model, &y = b.model;
  if (x.name != y.name || x.n_layers != y.n_layers || x.n_expert != y.n_expert || x.n_expert_used != y.n_expert_used ||
      x.n_embd != y.n_embd || x.n_ff_exp != y.n_ff_exp || x.expert_bytes != y.expert_bytes ||
      x.dense_bytes != y.dense_bytes || x.kv_bytes_per_token != y.kv_bytes_per_token || x.state_bytes != y.state_bytes) {
    return false;
  }
  if (a.steps.size() != b.steps.size()) return false;
  for (size_t s = 0; s < a.steps.size(); ++s) {
    const TraceStep &p = a.steps[s], &q = b.steps[s];
    if (p.n_tokens != q.n_tokens || p.pos0 != q.pos0 || p.layers.size() != q.layers.size()) return false;
    for (size_t l = 0; l < p.layers.size(); ++l) {
      if (p.layers[l].experts != q.layers[l].experts || p.layers[l].rows != q.layers[l].rows ||
          p.layers[l].predicted != q.layers[l].predicted) {
        return false;
      }
    }
  }
  return true;
}

inline Status write_trace(const std::string& path, const RoutingTrace& tr) {
  RoutingTraceWriter w;
  PETREL_RETURN_IF_ERROR(w.open(path, tr.model));
  for (const TraceStep& st : tr.steps) PETREL_RETURN_IF_ERROR(w.append(st));
  return Status();
}

// Byte offsets of each step's start in a file written by write_trace (header: 64 + name bytes).
inline std::vector<size_t> step_offsets(const RoutingTrace& tr) {
  std::vector<size_t> at;
  size_t pos = 64 + tr.model.name.size();
  for (const TraceStep& st : tr.steps) {
    at.push_back(pos);
    pos += 16;
    for (const TraceLayer& l : st.layers) pos += 2 + 6 * l.experts.size() + 2 + 2 * l.predicted.size();
  }
  at.push_back(pos);
  return at;
}

inline void put_le(std::vector<uint8_t>* b, size_t at, uint32_t v, size_t n) {
  for (size_t i = 0; i < n && at + i < b->size(); ++i) b->data()[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put32(std::vector<uint8_t>* b, size_t at, uint32_t v) { put_le(b, at, v, 4); }
inline void put16(std::vector<uint8_t>* b, size_t at, uint32_t v) { put_le(b, at, v, 2); }

// A trace read back must keep the bounds the reader promises.
inline bool within_bounds(const RoutingTrace& tr) {
  const TraceModel& m = tr.model;
  if (m.n_layers < 1 || m.n_expert < 1 || m.n_expert_used < 1 || m.n_expert_used > m.n_expert) return false;
  for (const TraceStep& st : tr.steps) {
    if (st.n_tokens < 1 || st.layers.size() != static_cast<size_t>(m.n_layers)) return false;
    for (const TraceLayer& l : st.layers) {
      if (l.experts.size() != l.rows.size()) return false;
      for (size_t i = 0; i < l.experts.size(); ++i) {
        if (l.experts[i] < 0 || l.experts[i] >= m.n_expert || l.rows[i] < 1 || l.rows[i] > st.n_tokens) return false;
        if (i > 0 && l.experts[i] <= l.experts[i - 1]) return false;
      }
      for (int32_t e : l.predicted) {
        if (e < 0 || e >= m.n_expert) return false;
      }
    }
  }
  return true;
}

inline CachePolicy policy_of(Eviction ev, double decay = 0.8, int32_t cap = 2, bool prefetch = false) {
  CachePolicy p;
  p.eviction = ev;
  p.decay = decay;
  p.max_uploads_per_layer = cap;
  p.prefetch = prefetch;
  return p;
}

}  // namespace petrel::offload_test
