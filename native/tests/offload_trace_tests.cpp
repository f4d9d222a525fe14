// Routing trace files (offload/routing_trace.h): written and read back, cut off at every byte,
// corrupted counts and ids, random byte flips (never a crash: ok or corrupt_file), write errors.
#include "tests/offload_test_helpers.h"

namespace petrel {
namespace {

using namespace offload;
using namespace offload_test;
using test::Rng;

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

}  // namespace
}  // namespace petrel
