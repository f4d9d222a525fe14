// The device cost model (offload/device_model.h) and the trace simulator (offload/simulate.h) on
// synthetic traces: prefetch, slot counts, in-flight uploads, static baselines, the prefill chooser.
#include "tests/offload_test_helpers.h"

namespace petrel {
namespace {

using namespace offload;
using namespace offload_test;
using test::Rng;

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
  // 8 GiB - 1.18 GB dense - 20 KiB × 32768 positions - 63 MB state - 0.25 GiB reserve - 2 × 256
  // staging experts of 1.9 MB, over 1.9 MB.
  const double rest = 8 * gib - 1.18e9 - 20480.0 * 32768 - 63e6 - 0.25 * gib - 512 * 1.9e6;
  int64_t staging = -1;
  PETREL_CHECK_EQ(slots_for_vram(m, 32768, 8 * gib, 0.25 * gib, &staging), static_cast<int64_t>(rest / 1.9e6));
  PETREL_CHECK_EQ(staging, 512);
  // 2.5 GiB leaves ~0.5 GB past the dense part: too little for the staging slots (~0.97 GB), which
  // are dropped.
  PETREL_CHECK_EQ(slots_for_vram(m, 32768, 2.5 * gib, 0.25 * gib, &staging),
                  static_cast<int64_t>((2.5 * gib - 1.18e9 - 20480.0 * 32768 - 63e6 - 0.25 * gib) / 1.9e6));
  PETREL_CHECK_EQ(staging, 0);
  PETREL_CHECK_EQ(slots_for_vram(m, 32768, 1 * gib, 0.25 * gib), 0);
  PETREL_CHECK_EQ(slots_for_vram(m, 0, 1000 * gib, 0), 40 * 256);
}

}  // namespace
}  // namespace petrel
