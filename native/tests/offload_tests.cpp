// MoE expert offload without a GPU: routing traces (write, read back, cut off, corrupted, random
// byte flips), the expert cache's invariants and eviction policies, the device cost model, and
// the trace simulator on synthetic traces (Zipf popularity plus temporal locality, seeded).
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

namespace petrel {
namespace {

using namespace offload;
using test::Rng;

// ---- helpers -------------------------------------------------------------------------------------

std::string temp_path(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  return std::string(base && *base ? base : "/tmp") + "/petrel-offload-" + std::to_string(::getpid()) + "-" + tag + ".ptrt";
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Qwen3.5-35B-A3B-like sizes (expert 3·2048·512 weights at ~4.85 bits), shrunk in layers/experts.
TraceModel synthetic_model(int32_t n_layers, int32_t n_expert, int32_t k) {
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
RoutingTrace synthetic_trace(const SynthSpec& sp) {
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

bool same_trace(const RoutingTrace& a, const RoutingTrace& b) {
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

Status write_trace(const std::string& path, const RoutingTrace& tr) {
  RoutingTraceWriter w;
  PETREL_RETURN_IF_ERROR(w.open(path, tr.model));
  for (const TraceStep& st : tr.steps) PETREL_RETURN_IF_ERROR(w.append(st));
  return Status();
}

// Byte offsets of each step's start in a file written by write_trace (header: 64 + name bytes).
std::vector<size_t> step_offsets(const RoutingTrace& tr) {
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

void put_le(std::vector<uint8_t>* b, size_t at, uint32_t v, size_t n) {
  for (size_t i = 0; i < n && at + i < b->size(); ++i) b->data()[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put32(std::vector<uint8_t>* b, size_t at, uint32_t v) { put_le(b, at, v, 4); }
void put16(std::vector<uint8_t>* b, size_t at, uint32_t v) { put_le(b, at, v, 2); }

// A trace read back must keep the bounds the reader promises.
bool within_bounds(const RoutingTrace& tr) {
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

// ---- routing traces ------------------------------------------------------------------------------

PETREL_TEST(offload_trace_round_trip) {
  SynthSpec sp;
  sp.n_steps = 60;
  sp.prefill_every = 20;
  sp.predictions = Predictions::noisy;
  RoutingTrace tr = synthetic_trace(sp);
  tr.model.name = "Qwen3.5 \"35B\"\n\xff";  // any bytes survive
  tr.steps[3].layers[2].predicted.clear();    // an empty prediction
  tr.steps[4].pos0 = (int64_t{1} << 40) - 5;  // large positions
  const std::string path = temp_path("round-trip");
  PETREL_CHECK(write_trace(path, tr).ok());
  RoutingTrace back;
  const Status st = read_routing_trace(path, &back);
  PETREL_CHECK(st.ok());
  PETREL_CHECK(!back.truncated);
  PETREL_CHECK(same_trace(tr, back));
  PETREL_CHECK_EQ(read_all(path).size(), step_offsets(tr).back());
  // A header-only trace is a valid empty trace.
  PETREL_CHECK(write_trace(path, RoutingTrace{tr.model, {}, false}).ok());
  PETREL_CHECK(read_routing_trace(path, &back).ok() && back.steps.empty() && !back.truncated);
  std::remove(path.c_str());
}

// Cut at every byte: inside the header the file is corrupt; inside a step, the steps before it
// are read and truncated is set; at a step boundary the file is simply shorter.
PETREL_TEST(offload_trace_truncated) {
  SynthSpec sp;
  sp.n_layers = 3;
  sp.n_expert = 16;
  sp.k = 2;
  sp.n_steps = 5;
  sp.prefill_every = 3;
  sp.prefill_tokens = 4;
  const RoutingTrace tr = synthetic_trace(sp);
  const std::string path = temp_path("truncated");
  PETREL_CHECK(write_trace(path, tr).ok());
  const std::vector<uint8_t> full = read_all(path);
  const std::vector<size_t> at = step_offsets(tr);
  PETREL_CHECK_EQ(full.size(), at.back());
  for (size_t cut = 0; cut < full.size(); ++cut) {
    write_all(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    RoutingTrace back;
    const Status st = read_routing_trace(path, &back);
    if (cut < at[0]) {
      if (st.code() != StatusCode::corrupt_file || st.message().find(path) != 0) {
        test::fail(__FILE__, __LINE__, "cut header at " + std::to_string(cut) + ": " + st.message());
      }
      continue;
    }
    const size_t complete = static_cast<size_t>(std::upper_bound(at.begin(), at.end(), cut) - at.begin()) - 1;
    const bool boundary = at[complete] == cut;
    if (!st.ok() || back.steps.size() != complete || back.truncated == boundary) {
      test::fail(__FILE__, __LINE__, "cut at " + std::to_string(cut) + ": " + st.message() + ", " +
                                         std::to_string(back.steps.size()) + " steps");
      continue;
    }
    RoutingTrace want = tr;
    want.steps.resize(complete);
    PETREL_CHECK(same_trace(want, back));
  }
  std::remove(path.c_str());
}

PETREL_TEST(offload_trace_corrupt_counts) {
  SynthSpec sp;
  sp.n_layers = 2;
  sp.n_expert = 16;
  sp.k = 2;
  sp.n_steps = 3;
  sp.prefill_every = 2;
  sp.prefill_tokens = 3;
  RoutingTrace tr = synthetic_trace(sp);
  tr.model.name = "m";
  const std::string path = temp_path("corrupt");
  PETREL_CHECK(write_trace(path, tr).ok());
  const std::vector<uint8_t> good = read_all(path);
  const size_t step0 = step_offsets(tr)[0];  // 65
  const size_t layer0 = step0 + 16;          // u16 n_used, then (u16 expert, u32 rows) entries
  const size_t n_used0 = tr.steps[0].layers[0].experts.size();
  const size_t pred0 = layer0 + 2 + 6 * n_used0;  // u16 n_predicted
  PETREL_CHECK(n_used0 >= 2);
  struct Case {
    const char* what;
    void (*patch)(std::vector<uint8_t>*, size_t, size_t, size_t);
  };
  const Case cases[] = {
      {"bad magic", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { (*b)[0] = 'X'; }},
      {"n_layers 0", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 8, 0); }},
      {"n_layers 5000", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 8, 5000); }},
      {"n_layers negative", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 8, 0xffffffffu); }},
      {"n_expert 0", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 12, 0); }},
      {"n_expert 70000", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 12, 70000); }},
      {"n_expert_used 0", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 16, 0); }},
      {"n_expert_used > n_expert", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 16, 17); }},
      {"layers × experts too many", [](std::vector<uint8_t>* b, size_t, size_t, size_t) {
         put32(b, 8, 4096);
         put32(b, 12, 65535);
       }},
      {"n_embd 0", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 20, 0); }},
      {"expert_bytes 0", [](std::vector<uint8_t>* b, size_t, size_t, size_t) {
         put32(b, 28, 0);
         put32(b, 32, 0);
       }},
      {"dense_bytes huge", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 40, 0xffffffffu); }},
      {"name length 5000", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 60, 5000); }},
      {"name length 4000 (past the end)", [](std::vector<uint8_t>* b, size_t, size_t, size_t) { put32(b, 60, 4000); }},
      {"bad step magic", [](std::vector<uint8_t>* b, size_t s, size_t, size_t) { (*b)[s + 1] = 'X'; }},
      {"n_tokens 0", [](std::vector<uint8_t>* b, size_t s, size_t, size_t) { put32(b, s + 4, 0); }},
      {"n_tokens negative", [](std::vector<uint8_t>* b, size_t s, size_t, size_t) { put32(b, s + 4, 0x80000000u); }},
      {"pos0 negative", [](std::vector<uint8_t>* b, size_t s, size_t, size_t) { put32(b, s + 12, 0x80000000u); }},
      {"n_used > n_expert", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) { put16(b, l, 17); }},
      {"n_used 65535", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) { put16(b, l, 65535); }},
      {"expert id >= n_expert", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) { put16(b, l + 2, 16); }},
      {"experts not ascending", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) {
         put16(b, l + 2, 15);  // the first above the second (ids are < 16)
       }},
      {"rows 0", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) { put32(b, l + 4, 0); }},
      {"rows > n_tokens", [](std::vector<uint8_t>* b, size_t, size_t l, size_t) { put32(b, l + 4, 2); }},
      {"n_predicted > n_expert", [](std::vector<uint8_t>* b, size_t, size_t, size_t p) { put16(b, p, 17); }},
      {"predicted id >= n_expert", [](std::vector<uint8_t>* b, size_t, size_t, size_t p) { put16(b, p + 2, 300); }},
  };
  // Step 0 is a 3-token micro-batch, so "rows > n_tokens" needs a decode step: step 1.
  const size_t step1 = step_offsets(tr)[1];
  for (const Case& c : cases) {
    std::vector<uint8_t> bytes = good;
    const bool decode_case = std::strcmp(c.what, "rows > n_tokens") == 0;
    c.patch(&bytes, decode_case ? step1 : step0, decode_case ? step1 + 16 : layer0, pred0);
    write_all(path, bytes);
    RoutingTrace back;
    const Status st = read_routing_trace(path, &back);
    if (st.code() != StatusCode::corrupt_file || st.message().find(path + ": ") != 0 || !back.steps.empty() ||
        st.message().find('\n') != std::string::npos) {
      test::fail(__FILE__, __LINE__, std::string(c.what) + ": " + status_code_name(st.code()) + " " + st.message());
    }
  }
  // Trailing bytes that do not begin a step are not a cut-off step.
  std::vector<uint8_t> tail = good;
  tail.push_back('S');
  tail.push_back('X');
  write_all(path, tail);
  RoutingTrace cut;
  PETREL_CHECK_EQ(read_routing_trace(path, &cut).code(), StatusCode::corrupt_file);
  tail.back() = 'T';
  write_all(path, tail);
  PETREL_CHECK(read_routing_trace(path, &cut).ok() && cut.truncated && cut.steps.size() == tr.steps.size());
  // An unknown version is well-formed but not ours; a missing file is an I/O error.
  std::vector<uint8_t> v2 = good;
  put32(&v2, 4, 2);
  write_all(path, v2);
  RoutingTrace back;
  PETREL_CHECK_EQ(read_routing_trace(path, &back).code(), StatusCode::unsupported);
  std::remove(path.c_str());
  PETREL_CHECK_EQ(read_routing_trace(path, &back).code(), StatusCode::io_error);
}

// Random byte flips of a valid file: never a crash, always ok (within bounds) or corrupt_file
// (unsupported only when the version was hit).
PETREL_TEST(offload_trace_random_flips) {
  SynthSpec sp;
  sp.n_layers = 3;
  sp.n_expert = 32;
  sp.k = 3;
  sp.n_steps = 12;
  sp.prefill_every = 5;
  sp.prefill_tokens = 6;
  sp.predictions = Predictions::noisy;
  const RoutingTrace tr = synthetic_trace(sp);
  const std::string path = temp_path("flips");
  PETREL_CHECK(write_trace(path, tr).ok());
  const std::vector<uint8_t> good = read_all(path);
  Rng rng(77);
  int n_ok = 0, n_corrupt = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<uint8_t> bytes = good;
    const int n_flips = 1 + static_cast<int>(rng.u32() % 3);
    bool version_hit = false;
    for (int f = 0; f < n_flips; ++f) {
      const size_t at = rng.u32() % bytes.size();
      version_hit = version_hit || (at >= 4 && at < 8);
      bytes[at] ^= static_cast<uint8_t>(1u << (rng.u32() % 8));
      if (rng.u32() % 4 == 0) bytes[at] = static_cast<uint8_t>(rng.u32());
    }
    if (round % 5 == 0) bytes.resize(rng.u32() % bytes.size());  // some also cut short
    write_all(path, bytes);
    RoutingTrace back;
    const Status st = read_routing_trace(path, &back);
    if (st.ok()) {
      ++n_ok;
      PETREL_CHECK(within_bounds(back));
    } else if (st.code() == StatusCode::corrupt_file) {
      ++n_corrupt;
      PETREL_CHECK(back.steps.empty());
    } else if (!(st.code() == StatusCode::unsupported && version_hit)) {
      test::fail(__FILE__, __LINE__, std::string("flip gave ") + status_code_name(st.code()) + ": " + st.message());
    }
  }
  PETREL_CHECK(n_ok > 0 && n_corrupt > 0);
  std::remove(path.c_str());
}

PETREL_TEST(offload_trace_writer_errors) {
  const TraceModel m = synthetic_model(2, 8, 2);
  RoutingTraceWriter w;
  // A full disk: the header write fails with ENOSPC.
  Status st = w.open("/dev/full", m);
  PETREL_CHECK_EQ(st.code(), StatusCode::disk_full);
  PETREL_CHECK(st.message().find("/dev/full: ") == 0 && !w.is_open());
  st = w.open("/nonexistent-dir/x.ptrt", m);
  PETREL_CHECK_EQ(st.code(), StatusCode::io_error);
  PETREL_CHECK(st.message().find("/nonexistent-dir/x.ptrt: ") == 0);
  // A model out of bounds, and steps that do not fit the model, are refused before writing.
  TraceModel bad = m;
  bad.n_expert_used = 9;
  PETREL_CHECK_EQ(w.open(temp_path("bad-model"), bad).code(), StatusCode::invalid_argument);
  const std::string path = temp_path("writer");
  PETREL_CHECK(w.open(path, m).ok() && w.is_open());
  TraceStep s;
  s.n_tokens = 1;
  s.layers.resize(2);
  s.layers[0].experts = {1, 5};
  s.layers[0].rows = {1, 1};
  s.layers[1].experts = {0, 7};
  s.layers[1].rows = {1, 1};
  s.layers[1].predicted = {7, 2};
  PETREL_CHECK(w.append(s).ok());
  TraceStep wrong = s;
  wrong.layers.resize(3);
  PETREL_CHECK_EQ(w.append(wrong).code(), StatusCode::invalid_argument);
  wrong = s;
  wrong.layers[0].experts = {5, 1};
  PETREL_CHECK_EQ(w.append(wrong).code(), StatusCode::invalid_argument);
  wrong = s;
  wrong.layers[1].predicted = {8};
  PETREL_CHECK_EQ(w.append(wrong).code(), StatusCode::invalid_argument);
  wrong = s;
  wrong.layers[0].rows = {1, 2};  // more rows than tokens
  PETREL_CHECK_EQ(w.append(wrong).code(), StatusCode::invalid_argument);
  PETREL_CHECK(w.append(s).ok());
  RoutingTrace back;
  PETREL_CHECK(read_routing_trace(path, &back).ok() && back.steps.size() == 2 && !back.truncated);
  std::remove(path.c_str());
}

// ---- expert cache --------------------------------------------------------------------------------

// Replays one expert per step on a one-layer cache: hit if resident, then record and admit.
// Returns the hits from step `count_from` on.
int64_t replay_single(ExpertCache* c, const std::vector<int32_t>& uses, size_t count_from) {
  int64_t hits = 0;
  std::vector<Admission> out;
  for (size_t s = 0; s < uses.size(); ++s) {
    c->begin_step();
    const int32_t e = uses[s];
    const bool hit = c->slot_of(0, e) >= 0;
    if (hit && s >= count_from) ++hits;
    c->record_use(0, &e, 1);
    if (!hit) c->admit(0, &e, 1, false, &out);
  }
  return hits;
}

CachePolicy policy_of(Eviction ev, double decay = 0.8, int32_t cap = 2, bool prefetch = false) {
  CachePolicy p;
  p.eviction = ev;
  p.decay = decay;
  p.max_uploads_per_layer = cap;
  p.prefetch = prefetch;
  return p;
}

// Random use, prefetch and admission under every policy: never more resident than slots, slots
// and keys agree, no pinned entry evicted, and no layer over its upload cap in a step.
PETREL_TEST(offload_cache_invariants) {
  const int32_t n_layers = 4, n_expert = 16;
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    for (int64_t n_slots : {int64_t{0}, int64_t{1}, int64_t{10}, int64_t{40}, int64_t{100}}) {
      const int32_t cap = 2;
      ExpertCache c(n_layers, n_expert, n_slots, policy_of(ev, 0.7, cap));
      PETREL_CHECK_EQ(c.n_slots(), std::min<int64_t>(n_slots, n_layers * n_expert));
      Rng rng(static_cast<uint64_t>(n_slots) * 3 + static_cast<uint64_t>(ev));
      std::vector<Admission> out;
      bool ok = true;
      for (int step = 0; step < 600 && ok; ++step) {
        c.begin_step();
        std::set<int64_t> pinned;  // used while resident, or uploaded, in this step
        std::vector<int32_t> uploads(static_cast<size_t>(n_layers), 0);
        const auto check_admissions = [&](size_t from) {
          for (size_t i = from; i < out.size(); ++i) {
            const Admission& a = out[i];
            if (a.evicted_layer >= 0 && pinned.count(int64_t{a.evicted_layer} * n_expert + a.evicted_expert)) ok = false;
            if (a.evicted_layer >= 0 && c.slot_of(a.evicted_layer, a.evicted_expert) >= 0) ok = false;
            if (c.slot_of(a.layer, a.expert) != a.slot) ok = false;
            pinned.insert(int64_t{a.layer} * n_expert + a.expert);
            if (++uploads[static_cast<size_t>(a.layer)] > cap) ok = false;
          }
        };
        for (int32_t l = 0; l < n_layers; ++l) {
          std::vector<int32_t> used;
          while (used.size() < 3) {
            const auto e = static_cast<int32_t>(rng.u32() % (rng.u32() % 2 ? 5 : n_expert));
            if (std::find(used.begin(), used.end(), e) == used.end()) used.push_back(e);
          }
          std::sort(used.begin(), used.end());
          std::vector<int32_t> missed;
          for (int32_t e : used) {
            if (c.slot_of(l, e) >= 0) {
              pinned.insert(int64_t{l} * n_expert + e);
            } else {
              missed.push_back(e);
            }
          }
          c.record_use(l, used.data(), static_cast<int32_t>(used.size()));
          if (l + 1 < n_layers) {
            std::vector<int32_t> predicted;
            for (int i = 0; i < 3; ++i) predicted.push_back(static_cast<int32_t>(rng.u32() % n_expert));
            const size_t from = out.size();
            c.admit(l + 1, predicted.data(), 3, true, &out);
            check_admissions(from);
          }
          const size_t from = out.size();
          c.admit(l, missed.data(), static_cast<int32_t>(missed.size()), false, &out);
          check_admissions(from);
          if (c.uploads_left(l) != cap - uploads[static_cast<size_t>(l)]) ok = false;
        }
        // Slots and keys agree one to one.
        std::set<int64_t> slots;
        int64_t resident = 0;
        for (int32_t l = 0; l < n_layers; ++l) {
          for (int32_t e = 0; e < n_expert; ++e) {
            const int64_t s = c.slot_of(l, e);
            if (s < 0) continue;
            ++resident;
            if (s >= c.n_slots() || !slots.insert(s).second) ok = false;
          }
        }
        if (resident != c.n_resident() || c.n_resident() > c.n_slots()) ok = false;
        out.clear();
      }
      if (!ok) test::fail(__FILE__, __LINE__, std::string(eviction_name(ev)) + " with " + std::to_string(n_slots) + " slots");
    }
  }
}

// LRU on a cyclic working set: smaller than the cache, every access hits after the first round;
// one larger than the cache, LRU evicts exactly the expert that comes next and never hits.
PETREL_TEST(offload_cache_lru_cyclic) {
  std::vector<int32_t> small, large;
  for (int i = 0; i < 400; ++i) {
    small.push_back(i % 12);
    large.push_back(i % 20);
  }
  ExpertCache a(1, 64, 16, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&a, small, 12), 400 - 12);
  ExpertCache b(1, 64, 16, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&b, large, 20), 0);
}

// A hot set used often, then a scan of experts used once each, then the hot set again: LFU keeps
// it through the scan; LRU loses all of it.
PETREL_TEST(offload_cache_lfu_keeps_hot_set_under_scan) {
  std::vector<int32_t> uses;
  for (int round = 0; round < 10; ++round) {
    for (int32_t e = 0; e < 6; ++e) uses.push_back(e);
  }
  for (int32_t e = 10; e < 50; ++e) uses.push_back(e);
  const size_t hot_again = uses.size();
  for (int32_t e = 0; e < 6; ++e) uses.push_back(e);
  ExpertCache lfu(1, 64, 8, policy_of(Eviction::lfu));
  PETREL_CHECK_EQ(replay_single(&lfu, uses, hot_again), 6);
  ExpertCache lru(1, 64, 8, policy_of(Eviction::lru));
  PETREL_CHECK_EQ(replay_single(&lru, uses, hot_again), 0);
}

// lrfu: a frequent-but-old expert (0) and a less frequent, more recent one (1) hold the two
// slots when a third (2) is used once. A small decay has forgotten 0's uses: 2 outscores it and
// takes its slot. A decay near 1 remembers them: 2 scores below both and is not admitted.
// decay -> 0 decides exactly like LRU.
PETREL_TEST(offload_cache_lrfu_decay) {
  std::vector<int32_t> uses;
  for (int i = 0; i < 10; ++i) uses.push_back(0);  // expert 0: 10 uses
  for (int i = 0; i < 5; ++i) uses.push_back(1);   // expert 1: 5 uses, more recent
  uses.push_back(2);                               // expert 2 needs one of the two slots
  for (double decay : {0.5, 0.99}) {
    ExpertCache c(1, 8, 2, policy_of(Eviction::lrfu, decay));
    replay_single(&c, uses, 0);
    const bool long_memory = decay > 0.9;
    PETREL_CHECK((c.slot_of(0, 0) >= 0) == long_memory);
    PETREL_CHECK((c.slot_of(0, 2) >= 0) == !long_memory);
    PETREL_CHECK(c.slot_of(0, 1) >= 0);
  }
  // The same random stream with LRU and lrfu at the smallest decay: the same hits.
  Rng rng(5);
  std::vector<int32_t> stream;
  for (int i = 0; i < 3000; ++i) stream.push_back(static_cast<int32_t>(rng.u32() % (rng.u32() % 3 ? 12 : 40)));
  ExpertCache lru(1, 40, 10, policy_of(Eviction::lru));
  ExpertCache lrfu(1, 40, 10, policy_of(Eviction::lrfu, 1e-9));
  PETREL_CHECK_EQ(replay_single(&lru, stream, 0), replay_single(&lrfu, stream, 0));
}

// A static cache (no upload budget) never admits; place() fills it once, without a budget.
PETREL_TEST(offload_cache_static_never_uploads) {
  ExpertCache c(2, 8, 5, policy_of(Eviction::lrfu, 0.8, 0));
  std::vector<Admission> out;
  const int32_t first[] = {0, 1, 2, 3};
  PETREL_CHECK_EQ(c.place(0, first, 4, &out), 4);
  PETREL_CHECK_EQ(c.place(1, first, 4, &out), 1);  // the slots are full
  PETREL_CHECK_EQ(c.n_resident(), 5);
  out.clear();
  Rng rng(9);
  for (int s = 0; s < 200; ++s) {
    c.begin_step();
    for (int32_t l = 0; l < 2; ++l) {
      const int32_t e = static_cast<int32_t>(rng.u32() % 8);
      c.record_use(l, &e, 1);
      PETREL_CHECK_EQ(c.admit(l, &e, 1, false, &out), 0);
      PETREL_CHECK_EQ(c.admit(l, &e, 1, true, &out), 0);
    }
  }
  PETREL_CHECK(out.empty());
  for (int32_t e : first) PETREL_CHECK(c.slot_of(0, e) >= 0);
}

// A prefetch of [x, y] where y is resident and the lowest-scored entry: admitting x must not
// evict y, which the same prediction says the layer is about to use.
PETREL_TEST(offload_cache_prefetch_keeps_predicted_resident) {
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    ExpertCache c(1, 8, 2, policy_of(ev, 0.8, 4, true));
    std::vector<Admission> out;
    replay_single(&c, {0, 1, 1}, 0);  // 0 is the lowest-scored of the two residents
    c.begin_step();
    const int32_t predicted[] = {5, 0};
    PETREL_CHECK_EQ(c.admit(0, predicted, 2, true, &out), 1);
    PETREL_CHECK(c.slot_of(0, 0) >= 0 && c.slot_of(0, 5) >= 0 && c.slot_of(0, 1) < 0);
  }
}

// ---- device model --------------------------------------------------------------------------------

PETREL_TEST(offload_device_model_terms) {
  const DeviceModel d;
  const ModelCost m = model_cost(synthetic_model(40, 256, 8));
  // The hand-off is paid only when the CPU has work.
  PETREL_CHECK_EQ(decode_layer_seconds(d, 8 * m.expert_bytes, 0), 8 * m.expert_bytes / d.gpu_bandwidth);
  PETREL_CHECK(std::fabs(decode_layer_seconds(d, 0, m.expert_bytes) - (m.expert_bytes / d.cpu_bandwidth + d.sync_latency)) < 1e-12);
  // One token: split is the memory-bound decode time (plus two activation copies of 8 KiB).
  LayerLoad one;
  one.n_tokens = 1;
  one.hit_experts = 6;
  one.hit_rows = 6;
  one.miss_experts = 2;
  one.miss_rows = 2;
  const double split = split_layer_seconds(d, m, one);
  const double decode = decode_layer_seconds(d, 6 * m.expert_bytes, 2 * m.expert_bytes);
  PETREL_CHECK(split >= decode && split < decode * 1.01);
  // Many rows make the CPU compute-bound: 4096 rows over 8 experts cost more than reading them.
  PETREL_CHECK(cpu_expert_seconds(d, m, 8, 4096) > 8 * m.expert_bytes / d.cpu_bandwidth);
  // Non-expert time grows with the KV cache read at long positions.
  PETREL_CHECK(nonexpert_step_seconds(d, m, 1, 100000) > nonexpert_step_seconds(d, m, 1, 1));
  // Streaming with nothing to upload is the GPU's compute alone.
  std::vector<LayerLoad> loads(40, one);
  for (LayerLoad& l : loads) {
    l.hit_experts = 8;
    l.hit_rows = 8;
    l.miss_experts = 0;
    l.miss_rows = 0;
  }
  const StreamCost none = stream_step_seconds(d, m, loads.data(), 40, 1e-5, 0.0);
  PETREL_CHECK(std::fabs(none.seconds - 40 * (1e-5 + gpu_expert_seconds(d, m, 8, 8))) < 1e-12);
  PETREL_CHECK_EQ(none.link_seconds, 0.0);
}

// Streaming wins big micro-batches (the CPU would be compute-bound on every expert); split wins
// tiny ones where the CPU reads RAM faster than PCIe brings the experts (a desktop: DDR5 at
// 60 GB/s, PCIe 4.0 at 25 GB/s).
PETREL_TEST(offload_chooser_stream_large_split_small) {
  const ModelCost m = model_cost(synthetic_model(40, 256, 8));
  DeviceModel desktop;
  desktop.cpu_bandwidth = 60e9;
  desktop.pcie_bandwidth = 25e9;
  const double nonexpert = 1e-5;
  // 512 tokens: every expert of every layer used, 16 rows each, all in RAM.
  std::vector<LayerLoad> large(40);
  for (LayerLoad& l : large) {
    l.n_tokens = 512;
    l.miss_experts = 256;
    l.miss_rows = 4096;
  }
  for (const DeviceModel& d : {desktop, DeviceModel()}) {
    const PrefillChoice c = choose_prefill(d, m, large.data(), 40, nonexpert, 0.0);
    PETREL_CHECK(c.strategy == PrefillStrategy::stream && c.stream_seconds < c.split_seconds);
  }
  // 2 tokens: 15 of 16 experts cached, one in RAM per layer.
  std::vector<LayerLoad> tiny(40);
  for (LayerLoad& l : tiny) {
    l.n_tokens = 2;
    l.hit_experts = 15;
    l.hit_rows = 15;
    l.miss_experts = 1;
    l.miss_rows = 1;
  }
  const PrefillChoice c = choose_prefill(desktop, m, tiny.data(), 40, nonexpert, 0.0);
  PETREL_CHECK(c.strategy == PrefillStrategy::split && c.split_seconds < c.stream_seconds);
  // A busy link makes streaming wait.
  const PrefillChoice busy = choose_prefill(desktop, m, large.data(), 40, nonexpert, 10.0);
  PETREL_CHECK(busy.stream_seconds > 10.0 && busy.strategy == PrefillStrategy::split);
}

// ---- simulator -----------------------------------------------------------------------------------

SimResult run_sim(const RoutingTrace& tr, const SimConfig& cfg, const DeviceModel& d = DeviceModel()) {
  SimResult r;
  const Status st = simulate(tr, cfg, d, &r);
  if (!st.ok()) test::fail(__FILE__, __LINE__, "simulate: " + st.message());
  return r;
}

SimConfig cache_config(Eviction ev, int64_t slots, bool prefetch, int32_t cap = 2, InitialFill fill = InitialFill::even) {
  SimConfig c;
  c.policy = policy_of(ev, 0.8, cap, prefetch);
  c.n_slots = slots;
  c.fill = fill;
  return c;
}

PETREL_TEST(offload_sim_perfect_prefetch_helps) {
  SynthSpec sp;
  sp.n_steps = 600;
  sp.predictions = Predictions::perfect;
  const RoutingTrace tr = synthetic_trace(sp);
  const int64_t all = sp.n_layers * sp.n_expert;
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    for (int64_t slots : {all / 8, all / 4, all / 2}) {
      const SimResult off = run_sim(tr, cache_config(ev, slots, false));
      const SimResult on = run_sim(tr, cache_config(ev, slots, true));
      if (!(on.row_hit_rate() >= off.row_hit_rate() && on.decode_tokens_per_second() >= off.decode_tokens_per_second())) {
        test::fail(__FILE__, __LINE__, std::string(eviction_name(ev)) + " slots " + std::to_string(slots) + ": " +
                                           std::to_string(on.row_hit_rate()) + " vs " + std::to_string(off.row_hit_rate()));
      }
      PETREL_CHECK(on.prefetches > 0 && on.prefetches_used == on.prefetches);  // perfect: every prefetch is used
      PETREL_CHECK_EQ(off.prefetches, 0);
    }
  }
}

// Every expert fits: after the warm-up every selection hits and decode runs at the all-GPU speed,
// which no smaller cache beats.
PETREL_TEST(offload_sim_infinite_slots) {
  SynthSpec sp;
  sp.n_expert = 16;
  sp.n_steps = 500;
  sp.prefill_every = 100;
  sp.prefill_tokens = 32;
  const RoutingTrace tr = synthetic_trace(sp);
  const int64_t all = sp.n_layers * sp.n_expert;
  SimConfig inf = cache_config(Eviction::lrfu, 1 << 30, false, 4, InitialFill::none);
  inf.warmup_steps = 150;
  const SimResult r = run_sim(tr, inf);
  PETREL_CHECK_EQ(r.n_slots, all);
  PETREL_CHECK_EQ(r.rows_hit, r.rows_selected);
  PETREL_CHECK_EQ(r.uploads, 0);
  SimConfig bound = cache_config(Eviction::lru, all, false, 0, InitialFill::even);
  bound.warmup_steps = 150;
  const SimResult b = run_sim(tr, bound);
  PETREL_CHECK_EQ(b.rows_hit, b.rows_selected);
  PETREL_CHECK(std::fabs(r.decode_seconds - b.decode_seconds) <= 1e-9 * b.decode_seconds);
  PETREL_CHECK(std::fabs(r.prefill_seconds - b.prefill_seconds) <= 1e-9 * b.prefill_seconds);
  for (int64_t slots : {all / 4, all / 2, all - 8}) {
    SimConfig c = cache_config(Eviction::lrfu, slots, true);
    c.warmup_steps = 150;
    const SimResult x = run_sim(tr, c);
    PETREL_CHECK(x.decode_tokens_per_second() <= b.decode_tokens_per_second() * (1 + 1e-12));
    PETREL_CHECK(x.prefill_tokens_per_second() <= b.prefill_tokens_per_second() * (1 + 1e-12));
  }
}

// No slots: nothing hits, nothing uploads but streamed prefill, and the times are the all-CPU bound's.
PETREL_TEST(offload_sim_zero_slots_is_all_cpu) {
  SynthSpec sp;
  sp.n_steps = 300;
  sp.prefill_every = 50;
  const RoutingTrace tr = synthetic_trace(sp);
  const SimResult cpu = run_sim(tr, cache_config(Eviction::lru, 0, false, 0, InitialFill::none));
  for (Eviction ev : {Eviction::lru, Eviction::lfu, Eviction::lrfu}) {
    const SimResult r = run_sim(tr, cache_config(ev, 0, true, 2, InitialFill::even));
    PETREL_CHECK_EQ(r.rows_hit, 0);
    PETREL_CHECK_EQ(r.experts_hit, 0);
    PETREL_CHECK_EQ(r.uploads, 0);
    PETREL_CHECK_EQ(r.prefetches, 0);
    PETREL_CHECK_EQ(r.decode_seconds, cpu.decode_seconds);
    PETREL_CHECK_EQ(r.prefill_seconds, cpu.prefill_seconds);
    PETREL_CHECK_EQ(r.upload_bytes, cpu.upload_bytes);
  }
  PETREL_CHECK(cpu.decode_tokens_per_second() > 0 && cpu.prefill_steps == 6);
}

// An expert whose upload is still crossing PCIe when its layer runs is a miss (the CPU computes
// it); once the upload is done, it is a hit.
PETREL_TEST(offload_sim_in_flight_is_a_miss) {
  RoutingTrace tr;
  tr.model = synthetic_model(1, 8, 1);
  for (int s = 0; s < 3; ++s) {
    TraceStep st;
    st.n_tokens = 1;
    st.pos0 = s;
    st.layers.resize(1);
    st.layers[0].experts = {3};
    st.layers[0].rows = {1};
    tr.steps.push_back(st);
  }
  const SimConfig cfg = cache_config(Eviction::lru, 4, false, 1, InitialFill::none);
  DeviceModel slow;
  slow.pcie_bandwidth = 1e6;  // 1.9 s per expert: still in flight at steps 1 and 2
  const SimResult a = run_sim(tr, cfg, slow);
  PETREL_CHECK_EQ(a.uploads, 1);  // admitted once, then resident (in flight)
  PETREL_CHECK_EQ(a.experts_hit, 0);
  PETREL_CHECK_EQ(a.in_flight_misses, 2);
  const SimResult b = run_sim(tr, cfg, DeviceModel());  // 48 us, done long before the next step
  PETREL_CHECK_EQ(b.experts_hit, 2);
  PETREL_CHECK_EQ(b.in_flight_misses, 0);
  PETREL_CHECK(b.decode_tokens_per_second() > a.decode_tokens_per_second());
}

// More slots never make modelled decode slower on a locality trace.
PETREL_TEST(offload_sim_decode_monotone_in_slots) {
  SynthSpec sp;
  sp.n_steps = 800;
  sp.locality = 0.6;
  sp.predictions = Predictions::noisy;
  const RoutingTrace tr = synthetic_trace(sp);
  const int64_t all = sp.n_layers * sp.n_expert;
  for (Eviction ev : {Eviction::lru, Eviction::lrfu}) {
    for (bool prefetch : {false, true}) {
      double prev = 0.0, prev_hit = -1.0;
      for (int64_t slots = 0; slots <= all; slots += all / 8) {
        SimConfig c = cache_config(ev, slots, prefetch);
        c.warmup_steps = 100;
        const SimResult r = run_sim(tr, c);
        if (r.decode_tokens_per_second() < prev || r.row_hit_rate() < prev_hit) {
          test::fail(__FILE__, __LINE__, std::string(eviction_name(ev)) + (prefetch ? " prefetch" : "") + " at " +
                                             std::to_string(slots) + " slots: " + std::to_string(r.decode_tokens_per_second()) +
                                             " t/s after " + std::to_string(prev));
        }
        prev = r.decode_tokens_per_second();
        prev_hit = r.row_hit_rate();
      }
    }
  }
}

// The baselines: "layers" holds whole last layers and hits only there; static placements upload
// nothing; the hottest-expert oracle beats index order; a replay is deterministic.
PETREL_TEST(offload_sim_static_baselines) {
  SynthSpec sp;
  sp.n_layers = 4;
  sp.n_expert = 16;
  sp.n_steps = 300;
  sp.prefill_every = 60;
  sp.prefill_tokens = 8;
  const RoutingTrace tr = synthetic_trace(sp);
  const SimResult layers = run_sim(tr, cache_config(Eviction::lru, 2 * 16 + 7, false, 0, InitialFill::last_layers));
  PETREL_CHECK_EQ(layers.rows_hit * 2, layers.rows_selected);  // layers 2 and 3 of 4 (each routes every token)
  PETREL_CHECK_EQ(layers.uploads, 0);
  const SimResult even = run_sim(tr, cache_config(Eviction::lru, 16, false, 0, InitialFill::even));
  const SimResult hot = run_sim(tr, cache_config(Eviction::lru, 16, false, 0, InitialFill::hottest));
  PETREL_CHECK_EQ(even.uploads, 0);
  PETREL_CHECK_EQ(hot.uploads, 0);
  PETREL_CHECK(hot.row_hit_rate() > even.row_hit_rate());
  const SimConfig dyn = cache_config(Eviction::lrfu, 20, true);
  const SimResult x = run_sim(tr, dyn), y = run_sim(tr, dyn);
  PETREL_CHECK(x.rows_hit == y.rows_hit && x.uploads == y.uploads && x.decode_seconds == y.decode_seconds &&
               x.prefill_seconds == y.prefill_seconds && x.prefill_stream == y.prefill_stream);
  // A malformed in-memory trace is refused, not replayed.
  RoutingTrace broken = tr;
  broken.steps[5].layers[1].experts[0] = 99;
  SimResult r;
  PETREL_CHECK_EQ(simulate(broken, dyn, DeviceModel(), &r).code(), StatusCode::invalid_argument);
}

PETREL_TEST(offload_sim_vram_slots) {
  const TraceModel m = synthetic_model(40, 256, 8);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  // 8 GiB - 1.18 GB dense - 20 KiB × 32768 positions - 63 MB state - 0.25 GiB reserve, over 1.9 MB.
  const double rest = 8 * gib - 1.18e9 - 20480.0 * 32768 - 63e6 - 0.25 * gib;
  PETREL_CHECK_EQ(slots_for_vram(m, 32768, 8 * gib, 0.25 * gib), static_cast<int64_t>(rest / 1.9e6));
  PETREL_CHECK_EQ(slots_for_vram(m, 32768, 1 * gib, 0.25 * gib), 0);
  PETREL_CHECK_EQ(slots_for_vram(m, 0, 1000 * gib, 0), 40 * 256);
}

}  // namespace
}  // namespace petrel
