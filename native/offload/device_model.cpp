// The cost model (see device_model.h). Each function is a sum or max of roofline terms; the
// comments say why a term is there and why it overlaps (max) or adds up (+).
#include "offload/device_model.h"

#include <algorithm>

namespace petrel::offload {
namespace {

// Reading `bytes` and doing `macs` multiply-adds overlap on one device: the slower bounds it.
double roofline(double bytes, double bandwidth, double macs, double rate) {
  return std::max(bytes / bandwidth, macs / rate);
}

}  // namespace

double gpu_expert_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts, int64_t rows) {
  if (n_experts <= 0) return 0.0;
  return roofline(static_cast<double>(n_experts) * m.expert_bytes, d.gpu_bandwidth,
                  static_cast<double>(rows) * m.expert_macs_per_row, d.gpu_macs);
}

double cpu_expert_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts, int64_t rows) {
  if (n_experts <= 0) return 0.0;
  // Few rows: memory-bound (each expert streamed once from DRAM); many rows: compute-bound.
  return roofline(static_cast<double>(n_experts) * m.expert_bytes, d.cpu_bandwidth,
                  static_cast<double>(rows) * m.expert_macs_per_row, d.cpu_macs);
}

double upload_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts) {
  if (n_experts <= 0) return 0.0;
  return static_cast<double>(n_experts) * (d.pcie_latency + m.expert_bytes / d.pcie_bandwidth);
}

double decode_layer_seconds(const DeviceModel& d, double hit_bytes, double miss_bytes) {
  const double t = std::max(hit_bytes / d.gpu_bandwidth, miss_bytes / d.cpu_bandwidth);
  return miss_bytes > 0.0 ? t + d.sync_latency : t;
}

double nonexpert_step_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_tokens, int64_t n_positions) {
  // Weights are read once per step whatever the tokens; KV up to the last position is read once
  // (flash attention streams it per query tile, ~once for the tile sizes of a micro-batch); the
  // recurrent state is read and written back.
  const double bytes = m.dense_bytes + m.kv_bytes_per_token * static_cast<double>(n_positions) + 2.0 * m.state_bytes;
  return roofline(bytes, d.gpu_bandwidth, m.dense_macs_per_token * static_cast<double>(n_tokens), d.gpu_macs);
}

double split_layer_seconds(const DeviceModel& d, const ModelCost& m, const LayerLoad& load) {
  const double gpu = gpu_expert_seconds(d, m, load.hit_experts, load.hit_rows);
  if (load.miss_experts <= 0) return gpu;
  // The CPU's tokens go to host memory and their results come back over PCIe; both wait for the
  // layer's hand-off. At most every token of the step crosses, once each way.
  const double tokens = static_cast<double>(std::min<int64_t>(load.miss_rows, load.n_tokens));
  const double activations = 2.0 * tokens * m.activation_bytes_per_token / d.pcie_bandwidth;
  const double cpu = cpu_expert_seconds(d, m, load.miss_experts, load.miss_rows);
  return std::max(gpu, cpu) + d.sync_latency + activations;
}

StreamCost stream_step_seconds(const DeviceModel& d, const ModelCost& m, const LayerLoad* loads, int32_t n_layers,
                               double nonexpert_per_layer, double link_wait) {
  // The two staging buffers: layer L's upload may start when PCIe is free and when layer L-2 (the
  // buffer's previous user) has been computed; layer L computes when layer L-1 is done, its
  // non-expert part is done, and its experts have arrived.
  StreamCost c;
  double link_free = std::max(0.0, link_wait);
  double done_prev = 0.0, done_prev2 = 0.0;  // compute of L-1 and L-2 finished
  for (int32_t l = 0; l < n_layers; ++l) {
    const LayerLoad& ld = loads[l];
    double arrived = 0.0;
    if (ld.miss_experts > 0) {
      const double start = std::max(link_free, done_prev2);
      arrived = start + upload_seconds(d, m, ld.miss_experts);
      link_free = arrived;
    }
    const double ready = std::max(done_prev + nonexpert_per_layer, arrived);
    const double done = ready + gpu_expert_seconds(d, m, ld.hit_experts + ld.miss_experts, ld.hit_rows + ld.miss_rows);
    done_prev2 = done_prev;
    done_prev = done;
  }
  c.seconds = done_prev;
  c.link_seconds = link_free;
  return c;
}

PrefillChoice choose_prefill(const DeviceModel& d, const ModelCost& m, const LayerLoad* loads, int32_t n_layers,
                             double nonexpert_per_layer, double link_wait) {
  PrefillChoice c;
  for (int32_t l = 0; l < n_layers; ++l) c.split_seconds += nonexpert_per_layer + split_layer_seconds(d, m, loads[l]);
  const StreamCost s = stream_step_seconds(d, m, loads, n_layers, nonexpert_per_layer, link_wait);
  c.stream_seconds = s.seconds;
  c.stream_link_seconds = s.link_seconds;
  c.strategy = c.stream_seconds < c.split_seconds ? PrefillStrategy::stream : PrefillStrategy::split;
  return c;
}

}  // namespace petrel::offload
