// The inference engine's public C++ surface, as narrow as the addon needs it:
//   Model    a loaded GGUF (weights stay memory-mapped), its hyperparameters as plain numbers, and
//            the compute backend (one persistent thread pool) that every session of it shares.
//   Session  one sequence: its own recurrent/conv state and KV cache, position, token history,
//            last logits and sampler RNG. Snapshots are byte blobs; a file is a blob on disk.
// No tensor type crosses this boundary, nothing throws: every fallible call returns a Status.
// Thread safety: different sessions may be used from different threads at once (forward passes
// of one model are serialised inside); one session must only be used by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel {

// MoE expert offload (offload/): a device holds everything that is not a routed expert plus a
// cache of experts within a VRAM budget; cached experts run there while the CPU computes the
// missing ones. Only the simulated device exists so far (host memory standing in for VRAM, the
// CPU's kernels standing in for the GPU's): it runs the placement, the cache and the split layer
// for real, and gives the same outputs as no offload.
enum class OffloadDevice { none, simulated };
enum class ExpertEviction { lru, lfu, lrfu };

struct OffloadOptions {
  OffloadDevice device = OffloadDevice::none;
  uint64_t vram_bytes = 0;                // the device budget (--vram); required with a device
  uint64_t reserve_bytes = 256ull << 20;  // kept free of the plan for the runtime and activations
  ExpertEviction eviction = ExpertEviction::lrfu;
  double decay = 0.8;                     // lrfu's per-step decay, (0, 1]
  int32_t max_uploads_per_layer = 2;      // expert uploads one layer may start per step
  bool prefetch = true;                   // upload the next layer's predicted experts
  // Prefill: a layer may upload all its missing experts to staging slots and run every expert on
  // the device, instead of computing the misses on the CPU, when the device cost model
  // (offload/device_model.h) says that is faster. stream_min_tokens > 0 replaces the cost model:
  // stream every prefill layer of at least that many tokens.
  bool prefill_streaming = true;
  int64_t stream_min_tokens = 0;
  // > 0: the machine's memory as the simulated device's check sees it (tests of that check).
  uint64_t assume_host_memory_bytes = 0;
  // Record every step's routing (and the prefetcher's predictions) to this file, with or without
  // a device, for petrel_offload_sim (offload/routing_trace.h).
  std::string routing_trace_path;
};

// Where a model's forward pass runs (docs/EXECUTION.md). The whole model runs on one backend:
// the CPU, or a Vulkan device holding every weight, activation, KV cache and recurrent state.
//   auto    a Vulkan GPU (integrated or discrete, not a software device such as lavapipe) when
//           one is found and the model fits its memory, else the CPU
//   cpu     the CPU
//   vulkan  a Vulkan device (PETREL_VULKAN_DEVICE picks which; software devices included);
//           an error when none is available
enum class DeviceChoice { auto_select, cpu, vulkan };

struct ModelOptions {
  int n_threads = 0;           // compute threads; 0 = hardware concurrency
  int64_t context_length = 0;  // default context length of new sessions; 0 = the model's own
  DeviceChoice device = DeviceChoice::cpu;
  // llama.cpp's -ngl: how many layers run on the GPU. -1 = not given (all of them when a GPU is
  // used); 0 = none (the CPU); a number at least the layer count = all. petrel runs a model wholly
  // on one device, so any other number is an error (invalid_argument) for now.
  int32_t n_gpu_layers = -1;
  OffloadOptions offload;
};

// What the expert offload did since the model was loaded (counts over MoE layers and steps).
struct OffloadStats {
  bool enabled = false;        // a device or a routing trace is in use
  std::string device;          // "simulated", or "" without a device
  std::string placement;       // the plan in one line
  uint64_t device_bytes = 0;    // planned on the device besides experts: weights, KV and state
  uint64_t expert_bytes = 0;    // one routed expert as the file stores it (the largest)
  int64_t expert_slots = 0;
  int64_t n_experts = 0;       // routed experts over all MoE layers
  int64_t steps = 0;
  int64_t rows_selected = 0;   // (token, expert) pairs the routers chose
  int64_t rows_on_device = 0;  // of those, the ones the device computed (cache hits)
  int64_t experts_selected = 0;  // distinct experts per layer and step
  int64_t experts_on_device = 0;
  int64_t uploads = 0;         // experts copied to the device (misses admitted and prefetches)
  int64_t prefetches = 0;      // of those, prefetches
  int64_t prefetches_used = 0; // prefetched experts the router then chose in the same step
  uint64_t bytes_uploaded = 0;
  int64_t staging_slots = 0;
  int64_t layers_streamed = 0;   // prefill layers that streamed their missing experts
  int64_t experts_streamed = 0;
  int64_t rows_streamed = 0;     // rows the device computed from staging slots
  uint64_t bytes_streamed = 0;
  std::string trace_error;     // why the routing trace stopped (empty while it is fine)
};

struct ModelInfo {
  std::string arch;             // general.architecture: qwen35, qwen35moe, qwen3next, qwen3, qwen3moe
  std::string name;             // general.name, when present
  int32_t n_layer = 0;          // trunk layers that run (block_count - nextn_predict_layers)
  int32_t n_layer_nextn = 0;    // MTP blocks in the file, loaded never
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int64_t n_ctx_train = 0;      // <arch>.context_length
  int64_t context_length = 0;   // default for new sessions
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  bool tied_output = false;     // no output.weight: token_embd is the LM head
  std::vector<bool> recurrent;  // per layer: Gated DeltaNet (true) or softmax attention (false)
  uint64_t fingerprint = 0;     // identifies the model's shapes (see also Model::weights_digest)
  uint64_t state_bytes_fixed = 0;     // recurrent + conv state per session
  uint64_t kv_bytes_per_token = 0;    // F16 K and V of every attention layer (twice that for an F32 cache)
  std::string backend;          // what runs the forward pass, as llama-bench names it: "CPU", "Vulkan"
  std::string device_name;      // the Vulkan device's name ("" on the CPU)
  std::string device_note;      // why `auto` chose the CPU ("" otherwise): no GPU, or too little memory
};

enum class LogitsMode { none, last, all };

// Lets another thread stop a long evaluate() and follow its progress. evaluate() checks `cancel`
// before each micro-batch (never inside one), so a cancellation takes effect within one
// micro-batch's time.
struct EvaluateControl {
  std::atomic<bool> cancel{false};
  // Optional; called on the evaluating thread after each micro-batch but the last.
  std::function<void(int64_t done, int64_t total)> on_progress;
  // Out: evaluate() stopped because of `cancel` (it then returns a non-ok Status too).
  bool cancelled = false;
};

// What an attention layer's KV cache stores: F16 (llama.cpp's default; half the memory and
// bandwidth at long contexts) or F32 (exact; what the engine tests compare against).
enum class KvCacheType { f16, f32 };

struct SessionOptions {
  int64_t context_length = 0;  // 0 = the model's default
  KvCacheType kv_cache_type = KvCacheType::f16;
};

// Token selection over the full vocabulary (llama.cpp's order: penalties, top-k, top-p, min-p,
// temperature, then a draw). temperature <= 0 or top_k == 1 means greedy argmax.
struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;            // <= 0: all tokens
  float top_p = 0.95f;           // >= 1: off
  float min_p = 0.05f;           // <= 0: off
  float repeat_penalty = 1.0f;   // 1: off; > 1 discourages the last `penalty_last_n` tokens
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t penalty_last_n = 64;   // window of history the penalties look at; -1 = whole history
};

class Session;

class Model : public std::enable_shared_from_this<Model> {
 public:
  struct Impl;
  static Status load(const std::string& path, const ModelOptions& options, std::shared_ptr<Model>* out);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  OffloadStats offload_stats() const;
  // A digest of the model's contents, which snapshots carry and check: the header, metadata and
  // tensor table bytes of every file, the file sizes, and 64 bytes at the start and at the end of
  // every tensor. Computed on the first call (the first snapshot or restore), not at load, so
  // loading reads no weights; it then touches about one page per tensor. Thread-safe.
  uint64_t weights_digest() const;
  // Sessions keep the model alive (they hold a shared_ptr to it).
  Status create_session(const SessionOptions& options, std::unique_ptr<Session>* out);

  Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  struct Impl;
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Model& model() const;
  int64_t position() const;        // tokens evaluated so far
  int64_t context_length() const;  // evaluate() refuses to go past it
  // Every token evaluated so far, in order (what the penalties look at).
  const std::vector<int32_t>& tokens() const;

  // Runs tokens [position, position + n) through the model. With LogitsMode::last / all, the
  // logits of the last token / of every token are kept (n_vocab floats per row, see logits()).
  // Fails without changing the session when the tokens would pass the context length or hold an
  // id outside the vocabulary. With a `control` whose `cancel` is set during the call, it stops
  // before the next micro-batch, sets control->cancelled and returns the session to exactly where
  // it was before the call (position, history, states, last logits): the DeltaNet states cannot
  // be rewound, so a long evaluation copies them once before its first micro-batch.
  Status evaluate(const int32_t* tokens, int64_t n, LogitsMode mode, EvaluateControl* control = nullptr);
  // Rows of n_vocab floats from the last evaluate(); empty after LogitsMode::none.
  const std::vector<float>& logits() const;
  int64_t logits_rows() const;

  // Picks the next token from the last logits row (needs a previous evaluate with logits).
  Status sample(const SamplingParams& params, int32_t* token);
  // Restarts the sampler's random stream (xoshiro256**, seeded through splitmix64).
  void seed_sampler(uint64_t seed);

  // The whole session (position, states, KV up to the position, history, last logits row,
  // sampler RNG) as a self-describing blob, and back. restore() checks the model's shape
  // fingerprint, its weights digest and every size; on failure the session is unchanged, and
  // *other_model (when given) says whether it failed because the snapshot is another model's.
  Status snapshot(std::vector<uint8_t>* out) const;
  Status restore(const uint8_t* data, size_t size, bool* other_model = nullptr);
  // The snapshot written to `path` through a temporary file and a rename; load reads it back.
  Status save_file(const std::string& path) const;
  Status load_file(const std::string& path, bool* other_model = nullptr);

  Status clone(std::unique_ptr<Session>* out) const;

  explicit Session(std::unique_ptr<Impl> impl);  // made by Model::create_session and clone()

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace petrel
