// petrel_offload_sim: replays a recorded routing trace (offload/routing_trace.h; petrel writes
// one with ModelOptions::offload.routing_trace_path) against a fixed table of expert-cache
// configurations on a modelled GPU + host (offload/device_model.h), and prints per configuration
// the hit rates, the PCIe traffic and the modelled decode and prefill speed. The speeds come from
// a cost model, not from a GPU: they rank policies, they do not predict a real run.
//
//   petrel_offload_sim <trace.ptrt> [--vram GiB | --slots N | --fraction F] [--reserve GiB]
//                      [--pcie GB/s] [--cpu-bw GB/s] [--gpu-bw GB/s] [--warmup STEPS] [--json]
//
// The expert cache gets --slots experts, or what --vram leaves after the dense weights, the KV
// cache at the trace's furthest position, the recurrent state and --reserve (default 0.25 GiB,
// the engine's), or by default a quarter of all experts (--fraction 0.25).
// Exit codes: 0 done, 1 the trace cannot be read or replayed, 2 bad arguments.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "offload/device_model.h"
#include "offload/routing_trace.h"
#include "offload/simulate.h"

namespace {

using namespace petrel::offload;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

const char kUsage[] =
    "usage: petrel_offload_sim <trace.ptrt> [--vram GiB | --slots N | --fraction F] [--reserve GiB] "
    "[--pcie GB/s] [--cpu-bw GB/s] [--gpu-bw GB/s] [--warmup STEPS] [--json]";

struct Args {
  std::string path;
  double vram_gib = -1, fraction = -1, reserve_gib = 0.25;
  int64_t slots = -1;
  int64_t warmup = 0;
  bool json = false;
  DeviceModel device;
};

// A number that is all of `s`, finite and in [lo, hi].
bool parse_number(const char* s, double lo, double hi, double* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// Returns an empty string, or what is wrong with the arguments.
std::string parse_args(int argc, char** argv, Args* a) {
  int sizing = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string opt = argv[i];
    if (opt == "--json") {
      a->json = true;
      continue;
    }
    if (opt.size() < 2 || opt.compare(0, 2, "--") != 0) {
      if (!a->path.empty()) return "more than one trace file given ('" + opt + "')";
      a->path = opt;
      continue;
    }
    if (i + 1 >= argc) return opt + " needs a value";
    const char* v = argv[++i];
    double x = 0;
    const auto bad = [&](const char* range) { return opt + " '" + v + "': expected " + range; };
    if (opt == "--vram") {
      if (!parse_number(v, 0, 1 << 20, &x)) return bad("GiB >= 0");
      a->vram_gib = x;
      ++sizing;
    } else if (opt == "--slots") {
      if (!parse_number(v, 0, 1e12, &x) || x != std::floor(x)) return bad("a whole number of experts >= 0");
      a->slots = static_cast<int64_t>(x);
      ++sizing;
    } else if (opt == "--fraction") {
      if (!parse_number(v, 0, 1, &x)) return bad("a fraction of all experts in [0, 1]");
      a->fraction = x;
      ++sizing;
    } else if (opt == "--reserve") {
      if (!parse_number(v, 0, 1 << 20, &x)) return bad("GiB >= 0");
      a->reserve_gib = x;
    } else if (opt == "--pcie") {
      if (!parse_number(v, 0.01, 1e5, &x)) return bad("GB/s > 0");
      a->device.pcie_bandwidth = x * 1e9;
    } else if (opt == "--cpu-bw") {
      if (!parse_number(v, 0.01, 1e5, &x)) return bad("GB/s > 0");
      a->device.cpu_bandwidth = x * 1e9;
    } else if (opt == "--gpu-bw") {
      if (!parse_number(v, 0.01, 1e6, &x)) return bad("GB/s > 0");
      a->device.gpu_bandwidth = x * 1e9;
    } else if (opt == "--warmup") {
      if (!parse_number(v, 0, 1e15, &x) || x != std::floor(x)) return bad("a whole number of steps >= 0");
      a->warmup = static_cast<int64_t>(x);
    } else {
      return "unknown option " + opt;
    }
  }
  if (a->path.empty()) return "no trace file given";
  if (sizing > 1) return "give at most one of --vram, --slots and --fraction";
  if (sizing == 0) a->fraction = 0.25;
  return std::string();
}

struct Row {
  std::string name;     // policy column
  bool dynamic = false;  // uploads at run time (prefetch and cap columns apply)
  SimConfig config;
  SimResult result;
};

std::vector<Row> configurations(int64_t slots, int64_t all_experts, int64_t warmup) {
  std::vector<Row> rows;
  const auto add = [&](const std::string& name, int64_t n_slots, InitialFill fill, Eviction ev, double decay,
                       int32_t cap, bool prefetch, double max_backlog = -1.0) {
    Row r;
    r.config.max_backlog_seconds = max_backlog;
    r.name = name;
    r.dynamic = cap > 0;
    r.config.n_slots = n_slots;
    r.config.fill = fill;
    r.config.warmup_steps = warmup;
    r.config.policy.eviction = ev;
    r.config.policy.decay = decay;
    r.config.policy.max_uploads_per_layer = cap;
    r.config.policy.prefetch = prefetch && cap > 0;
    rows.push_back(r);
  };
  add("all-GPU (bound)", all_experts, InitialFill::even, Eviction::lru, 1.0, 0, false);
  add("static", slots, InitialFill::even, Eviction::lru, 1.0, 0, false);
  add("static-hot*", slots, InitialFill::hottest, Eviction::lru, 1.0, 0, false);
  add("layers", slots, InitialFill::last_layers, Eviction::lru, 1.0, 0, false);
  for (bool prefetch : {false, true}) add("lru", slots, InitialFill::even, Eviction::lru, 1.0, 2, prefetch);
  for (bool prefetch : {false, true}) add("lfu", slots, InitialFill::even, Eviction::lfu, 1.0, 2, prefetch);
  for (double decay : {0.5, 0.8, 0.95}) {
    char name[32];
    std::snprintf(name, sizeof(name), "lrfu %.2g", decay);
    for (bool prefetch : {false, true}) add(name, slots, InitialFill::even, Eviction::lrfu, decay, 2, prefetch);
  }
  for (int32_t cap : {1, 4}) add("lrfu 0.8", slots, InitialFill::even, Eviction::lrfu, 0.8, cap, true);
  // The same, starting no upload while PCIe is more than 1 ms behind (see SimConfig).
  for (int32_t cap : {2, 4}) add("lrfu 0.8 gate1ms", slots, InitialFill::even, Eviction::lrfu, 0.8, cap, true, 1e-3);
  add("all-CPU (bound)", 0, InitialFill::none, Eviction::lru, 1.0, 0, false);
  return rows;
}

// Replays every row, on as many threads as there are cores (each replay is independent).
petrel::Status run_all(const RoutingTrace& trace, const DeviceModel& device, std::vector<Row>* rows) {
  std::atomic<size_t> next{0};
  std::vector<petrel::Status> status(rows->size());
  const auto work = [&]() {
    for (size_t i = next++; i < rows->size(); i = next++) {
      Row& r = (*rows)[i];
      status[i] = simulate(trace, r.config, device, &r.result);
    }
  };
  const size_t n_threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, rows->size());
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  for (const petrel::Status& st : status) {
    if (!st.ok()) return st;
  }
  return petrel::Status();
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\u%04x", c);  // bytes as Latin-1: valid JSON whatever the name holds
      out += hex;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

struct TraceSummary {
  int64_t decode_steps = 0, prefill_steps = 0, tokens = 0, max_pos = 0;
  bool has_predictions = false;
};

TraceSummary summarize(const RoutingTrace& trace) {
  TraceSummary s;
  for (const TraceStep& st : trace.steps) {
    ++(st.n_tokens == 1 ? s.decode_steps : s.prefill_steps);
    s.tokens += st.n_tokens;
    for (const TraceLayer& l : st.layers) s.has_predictions = s.has_predictions || !l.predicted.empty();
  }
  s.max_pos = max_position(trace);
  return s;
}

void print_table(const Args& a, const RoutingTrace& trace, const TraceSummary& sum, int64_t slots, int64_t staging,
                 int64_t all_experts,
                 double vram_bytes, const std::vector<Row>& rows) {
  const TraceModel& m = trace.model;
  const DeviceModel& d = a.device;
  std::printf("petrel_offload_sim: MODELLED numbers from a device cost model, not measurements\n");
  std::printf("trace    %s%s\n", printable(a.path).c_str(), trace.truncated ? " (truncated: the cut-off last step is dropped)" : "");
  std::printf("model    '%s': %d MoE layers x %d experts (top-%d), n_embd %d, n_ff_exp %d, expert %.2f MiB\n",
              printable(m.name).c_str(), m.n_layers, m.n_expert, m.n_expert_used, m.n_embd, m.n_ff_exp,
              static_cast<double>(m.expert_bytes) / (1024.0 * 1024.0));
  std::printf("steps    %zu (%lld decode, %lld prefill micro-batches), %lld tokens, max position %lld%s\n",
              trace.steps.size(), static_cast<long long>(sum.decode_steps), static_cast<long long>(sum.prefill_steps),
              static_cast<long long>(sum.tokens), static_cast<long long>(sum.max_pos),
              a.warmup > 0 ? (", first " + std::to_string(a.warmup) + " steps not counted").c_str() : "");
  std::printf("slots    %lld of %lld experts (%.1f%%); VRAM %.2f GiB = dense %.2f + KV/state %.2f + reserve %.2f + "
              "staging %.2f + experts %.2f\n",
              static_cast<long long>(slots), static_cast<long long>(all_experts),
              all_experts > 0 ? 100.0 * static_cast<double>(slots) / static_cast<double>(all_experts) : 0.0,
              vram_bytes / kGiB, static_cast<double>(m.dense_bytes) / kGiB,
              (static_cast<double>(m.kv_bytes_per_token) * static_cast<double>(sum.max_pos) + static_cast<double>(m.state_bytes)) / kGiB,
              a.reserve_gib, static_cast<double>(staging) * static_cast<double>(m.expert_bytes) / kGiB,
              static_cast<double>(slots) * static_cast<double>(m.expert_bytes) / kGiB);
  std::printf("device   GPU %.0f GB/s, %.0f TMAC/s; PCIe %.0f GB/s + %.0f us/transfer; CPU %.0f GB/s, %.0f GMAC/s; "
              "CPU<->GPU sync %.0f us/layer\n",
              d.gpu_bandwidth / 1e9, d.gpu_macs / 1e12, d.pcie_bandwidth / 1e9, d.pcie_latency * 1e6, d.cpu_bandwidth / 1e9,
              d.cpu_macs / 1e9, d.sync_latency * 1e6);
  std::printf("\n%-16s %-8s %-3s %7s %7s %7s %9s %6s %10s %11s %10s\n", "policy", "prefetch", "cap", "hit%row", "hit%exp",
              "pf use%", "MB up/tok", "PCIe%", "decode t/s", "prefill t/s", "split/strm");
  for (const Row& r : rows) {
    const SimResult& x = r.result;
    const CachePolicy& p = r.config.policy;
    char cap[8] = "-", pf_use[16] = "-", dec[24] = "-", pre[24] = "-", strategy[32] = "-";
    if (r.dynamic) std::snprintf(cap, sizeof(cap), "%d", p.max_uploads_per_layer);
    if (x.prefetches > 0) std::snprintf(pf_use, sizeof(pf_use), "%.1f", 100.0 * x.prefetch_use_rate());
    if (x.decode_steps > 0) std::snprintf(dec, sizeof(dec), "%.1f", x.decode_tokens_per_second());
    if (x.prefill_steps > 0) {
      std::snprintf(pre, sizeof(pre), "%.0f", x.prefill_tokens_per_second());
      std::snprintf(strategy, sizeof(strategy), "%lld/%lld", static_cast<long long>(x.prefill_split),
                    static_cast<long long>(x.prefill_stream));
    }
    std::printf("%-16s %-8s %-3s %7.1f %7.1f %7s %9.2f %6.0f %10s %11s %10s\n", r.name.c_str(),
                r.dynamic ? (p.prefetch ? "on" : "off") : "-", cap, 100.0 * x.row_hit_rate(), 100.0 * x.expert_hit_rate(),
                pf_use, x.upload_bytes_per_token() / 1e6, 100.0 * x.link_busy(), dec, pre, strategy);
  }
  std::printf("\nhit%%row: (token, expert) rows served by a cached copy; hit%%exp: the same per selected expert;\n"
              "pf use%%: prefetched experts the layer then used; MB up/tok: PCIe bytes (cache fills + streamed prefill);\n"
              "PCIe%%: link busy time over modelled time (above 100: uploads queue up faster than they arrive, and\n"
              "  experts still in flight count as misses);\n"
              "split/strm: prefill micro-batches run split (misses on the CPU) / streamed (misses uploaded per layer).\n"
              "static-hot*: the experts with the most rows in this very trace (an oracle profile).\n");
  if (!sum.has_predictions) std::printf("the trace records no predictions: prefetch on equals prefetch off.\n");
}

void print_json(const Args& a, const RoutingTrace& trace, const TraceSummary& sum, int64_t slots, int64_t staging,
                int64_t all_experts,
                double vram_bytes, const std::vector<Row>& rows) {
  const TraceModel& m = trace.model;
  const DeviceModel& d = a.device;
  std::string o = "{\"modelled\":true,\"trace\":{";
  o += "\"path\":" + json_string(a.path) + ",\"model\":" + json_string(m.name);
  o += ",\"n_layers\":" + std::to_string(m.n_layers) + ",\"n_expert\":" + std::to_string(m.n_expert);
  o += ",\"n_expert_used\":" + std::to_string(m.n_expert_used) + ",\"expert_bytes\":" + std::to_string(m.expert_bytes);
  o += ",\"dense_bytes\":" + std::to_string(m.dense_bytes) + ",\"steps\":" + std::to_string(trace.steps.size());
  o += ",\"decode_steps\":" + std::to_string(sum.decode_steps) + ",\"prefill_steps\":" + std::to_string(sum.prefill_steps);
  o += ",\"tokens\":" + std::to_string(sum.tokens) + ",\"max_position\":" + std::to_string(sum.max_pos);
  o += ",\"truncated\":" + std::string(trace.truncated ? "true" : "false");
  o += ",\"has_predictions\":" + std::string(sum.has_predictions ? "true" : "false") + "}";
  o += ",\"slots\":" + std::to_string(slots) + ",\"staging_slots\":" + std::to_string(staging);
  o += ",\"n_experts\":" + std::to_string(all_experts);
  o += ",\"vram_bytes\":" + json_number(vram_bytes) + ",\"warmup_steps\":" + std::to_string(a.warmup);
  o += ",\"device\":{\"gpu_bandwidth\":" + json_number(d.gpu_bandwidth) + ",\"gpu_macs\":" + json_number(d.gpu_macs);
  o += ",\"pcie_bandwidth\":" + json_number(d.pcie_bandwidth) + ",\"pcie_latency\":" + json_number(d.pcie_latency);
  o += ",\"cpu_bandwidth\":" + json_number(d.cpu_bandwidth) + ",\"cpu_macs\":" + json_number(d.cpu_macs);
  o += ",\"sync_latency\":" + json_number(d.sync_latency) + "},\"configs\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const SimResult& x = r.result;
    const CachePolicy& p = r.config.policy;
    if (i) o += ",";
    o += "{\"name\":" + json_string(r.name) + ",\"eviction\":" + json_string(eviction_name(p.eviction));
    o += ",\"decay\":" + json_number(p.decay) + ",\"prefetch\":" + std::string(p.prefetch ? "true" : "false");
    o += ",\"max_uploads_per_layer\":" + std::to_string(p.max_uploads_per_layer);
    o += ",\"max_backlog_seconds\":" + (r.config.max_backlog_seconds >= 0 ? json_number(r.config.max_backlog_seconds) : "null");
    o += ",\"fill\":" + json_string(initial_fill_name(r.config.fill)) + ",\"slots\":" + std::to_string(x.n_slots);
    o += ",\"row_hit_rate\":" + json_number(x.row_hit_rate()) + ",\"expert_hit_rate\":" + json_number(x.expert_hit_rate());
    o += ",\"in_flight_misses\":" + std::to_string(x.in_flight_misses) + ",\"prefetches\":" + std::to_string(x.prefetches);
    o += ",\"prefetches_used\":" + std::to_string(x.prefetches_used) + ",\"prefetches_hit\":" + std::to_string(x.prefetches_hit);
    o += ",\"uploads\":" + std::to_string(x.uploads) + ",\"streamed_experts\":" + std::to_string(x.streamed_experts);
    o += ",\"link_busy\":" + json_number(x.link_busy()) + ",\"max_link_backlog_seconds\":" + json_number(x.max_link_backlog);
    o += ",\"upload_bytes_per_step\":" + json_number(x.upload_bytes_per_step());
    o += ",\"upload_bytes_per_token\":" + json_number(x.upload_bytes_per_token());
    o += ",\"decode_tokens_per_second\":" + (x.decode_steps > 0 ? json_number(x.decode_tokens_per_second()) : "null");
    o += ",\"prefill_tokens_per_second\":" + (x.prefill_steps > 0 ? json_number(x.prefill_tokens_per_second()) : "null");
    o += ",\"prefill_split\":" + std::to_string(x.prefill_split) + ",\"prefill_stream\":" + std::to_string(x.prefill_stream) + "}";
  }
  o += "]}\n";
  std::fputs(o.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const std::string problem = parse_args(argc, argv, &a);
  if (!problem.empty()) {
    std::fprintf(stderr, "petrel_offload_sim: %s\n%s\n", problem.c_str(), kUsage);
    return 2;
  }
  RoutingTrace trace;
  petrel::Status st = read_routing_trace(a.path, &trace);
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_offload_sim: %s\n", st.message().c_str());
    return 1;
  }
  if (trace.steps.empty()) {
    std::fprintf(stderr, "petrel_offload_sim: %s: the trace has no complete step\n", printable(a.path).c_str());
    return 1;
  }
  const TraceModel& m = trace.model;
  const TraceSummary sum = summarize(trace);
  const int64_t all_experts = static_cast<int64_t>(m.n_layers) * m.n_expert;
  const double reserve = a.reserve_gib * kGiB;
  int64_t slots = 0;
  int64_t staging = 2 * static_cast<int64_t>(m.n_expert);  // streaming prefill's slots, as the engine plans them
  if (a.vram_gib >= 0) {
    slots = slots_for_vram(m, sum.max_pos, a.vram_gib * kGiB, reserve, &staging);
  } else if (a.slots >= 0) {
    slots = std::min(a.slots, all_experts);
  } else {
    slots = static_cast<int64_t>(std::floor(a.fraction * static_cast<double>(all_experts)));
  }
  // The VRAM these slots take next to everything else (the given budget when --vram).
  const double vram = a.vram_gib >= 0 ? a.vram_gib * kGiB
                                      : static_cast<double>(m.dense_bytes) +
                                            static_cast<double>(m.kv_bytes_per_token) * static_cast<double>(sum.max_pos) +
                                            static_cast<double>(m.state_bytes) + reserve +
                                            static_cast<double>(slots + staging) * static_cast<double>(m.expert_bytes);
  std::vector<Row> rows = configurations(slots, all_experts, a.warmup);
  st = run_all(trace, a.device, &rows);
  if (!st.ok()) {
    std::fprintf(stderr, "petrel_offload_sim: %s\n", st.message().c_str());
    return 1;
  }
  if (a.json) {
    print_json(a, trace, sum, slots, staging, all_experts, vram, rows);
  } else {
    print_table(a, trace, sum, slots, staging, all_experts, vram, rows);
  }
  return 0;
}
