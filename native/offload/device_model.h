// A plain cost model of one GPU and its host, for the offload simulator (offload/simulate.h): how
// long the parts of a forward step take when some routed experts sit in VRAM and the rest in RAM.
// Every time is a roofline, max(bytes / bandwidth, multiply-adds / rate), plus the fixed costs
// that dominate small experts (per-transfer latency, per-layer CPU<->GPU hand-off). It ignores
// what a simple model cannot know (kernel launch gaps, contention between PCIe reads and CPU
// reads of DRAM, attention's quadratic compute), so its numbers rank policies; they are not
// predictions of a real run.
//
// The defaults describe an H100 SXM in a PCIe 5.0 host whose CPU side runs petrel's expert
// kernels on two threads (the rate `petrel_op_bench stream` measures).
#pragma once

#include <cstdint>

namespace petrel::offload {

struct DeviceModel {
  // HBM3 peaks at 3.35 TB/s; quantized GEMV kernels reach ~70% of it.
  double gpu_bandwidth = 2.35e12;  // bytes/s
  // Dense BF16 tensor peak is ~990 TFLOP/s (~495 T multiply-adds/s); dequantizing MoE GEMMs over
  // ragged per-expert row counts get about a fifth of it.
  double gpu_macs = 100e12;  // multiply-adds/s
  // PCIe 5.0 x16: 64 GB/s raw per direction, ~50 GB/s measured for pinned host-to-device copies
  // (PCIe 4.0 x16 would be ~25 GB/s).
  double pcie_bandwidth = 50e9;  // bytes/s
  // Setting up one cudaMemcpyAsync plus its DMA: an expert is one transfer.
  double pcie_latency = 10e-6;  // s
  // What the CPU threads stream from DRAM while computing missed experts (measure: the 2-thread
  // `petrel_op_bench stream`); decode on the CPU reads each missed expert once per token.
  double cpu_bandwidth = 20e9;  // bytes/s
  // Two AVX2/AVX-512 threads in quantized GEMM (~50 GMAC/s each with unpacking).
  double cpu_macs = 100e9;  // multiply-adds/s
  // One layer's hand-off when the CPU computes some experts: the activations go down, the CPU
  // threads wake, the results come back and the GPU stream waits on them (two small copies and
  // an event, ~10 us each way).
  double sync_latency = 20e-6;  // s
};

// What the cost model needs to know about the model (see simulate.h: model_cost()).
struct ModelCost {
  int32_t n_layers = 0;               // MoE layers
  double expert_bytes = 0;            // one routed expert, all its matrices
  double expert_macs_per_row = 0;     // 3 · n_embd · n_ff_exp (gate, up, down) per token routed to it
  double dense_bytes = 0;             // non-expert weights read once per step
  double dense_macs_per_token = 0;    // their multiply-adds per token
  double kv_bytes_per_token = 0;      // KV cache per position, read once per step by attention
  double state_bytes = 0;             // recurrent state, read and written once per step
  double activation_bytes_per_token = 0;  // one hidden vector (f32), what crosses PCIe per token and way
};

// One MoE layer of one step: the experts used there split by where they are computed.
struct LayerLoad {
  int32_t n_tokens = 0;
  int32_t hit_experts = 0;   // held by the GPU (resident and uploaded by the time the layer runs)
  int64_t hit_rows = 0;      // tokens routed to them
  int32_t miss_experts = 0;  // the rest: in RAM (or still in flight)
  int64_t miss_rows = 0;
};

// Multiply-adds per row (token routed to an expert) and bytes are the model's; rows of many
// experts are summed, as one grouped GEMM reads each expert once.
double gpu_expert_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts, int64_t rows);
double cpu_expert_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts, int64_t rows);
// n_experts uploads, one transfer each.
double upload_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_experts);

// Decode (one token): the GPU reads the hit experts while the CPU reads the missed ones; the
// layer waits for the slower, and for the hand-off only when the CPU had work.
double decode_layer_seconds(const DeviceModel& d, double hit_bytes, double miss_bytes);

// Everything of a step that is not a routed expert, on the GPU: dense weights (read once, times
// the tokens in multiply-adds), the KV cache up to n_positions, and the recurrent state.
double nonexpert_step_seconds(const DeviceModel& d, const ModelCost& m, int64_t n_tokens, int64_t n_positions);

// The split strategy for one layer (decode, and prefill when chosen): hits on the GPU, misses on
// the CPU at the same time; with misses, the hand-off and the activations both ways.
double split_layer_seconds(const DeviceModel& d, const ModelCost& m, const LayerLoad& load);

// The streaming strategy for one micro-batch: each layer's missed experts are uploaded into one
// of two staging buffers while the GPU computes the previous layer (double buffering), and the GPU
// computes all used experts. link_wait: how long PCIe is still busy with earlier uploads.
struct StreamCost {
  double seconds = 0;       // the whole micro-batch
  double link_seconds = 0;  // from its start until its last upload is done (PCIe is busy till then)
};
StreamCost stream_step_seconds(const DeviceModel& d, const ModelCost& m, const LayerLoad* loads, int32_t n_layers,
                               double nonexpert_per_layer, double link_wait);

enum class PrefillStrategy { split, stream };

struct PrefillChoice {
  PrefillStrategy strategy = PrefillStrategy::split;
  double split_seconds = 0;
  double stream_seconds = 0;
  double stream_link_seconds = 0;
};
// The cheaper strategy for one micro-batch (split on a tie: it uploads nothing).
PrefillChoice choose_prefill(const DeviceModel& d, const ModelCost& m, const LayerLoad* loads, int32_t n_layers,
                             double nonexpert_per_layer, double link_wait);

}  // namespace petrel::offload
