// The inference engine's public C++ surface, as narrow as the addon needs it:
//   Model    a loaded GGUF (weights stay memory-mapped), its hyperparameters as plain numbers, and
//            the compute backend (one persistent thread pool) that every session of it shares.
//   Session  one sequence: its own recurrent/conv state and KV cache, position, token history,
//            last logits and sampler RNG. Snapshots are byte blobs; a file is a blob on disk.
// No tensor type crosses this boundary, nothing throws: every fallible call returns a Status.
// Thread safety: different sessions may be used from different threads at once (forward passes
// of one model are serialised inside); one session must only be used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel {

struct ModelOptions {
  int n_threads = 0;           // compute threads; 0 = hardware concurrency
  int64_t context_length = 0;  // default context length of new sessions; 0 = the model's own
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
  uint64_t fingerprint = 0;     // identifies the model's shapes; snapshots must match it
  uint64_t state_bytes_fixed = 0;     // recurrent + conv state per session
  uint64_t kv_bytes_per_token = 0;    // float32 K and V of every attention layer
};

enum class LogitsMode { none, last, all };

struct SessionOptions {
  int64_t context_length = 0;  // 0 = the model's default
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
  // id outside the vocabulary.
  Status evaluate(const int32_t* tokens, int64_t n, LogitsMode mode);
  // Rows of n_vocab floats from the last evaluate(); empty after LogitsMode::none.
  const std::vector<float>& logits() const;
  int64_t logits_rows() const;

  // Picks the next token from the last logits row (needs a previous evaluate with logits).
  Status sample(const SamplingParams& params, int32_t* token);
  // Restarts the sampler's random stream (xoshiro256**, seeded through splitmix64).
  void seed_sampler(uint64_t seed);

  // The whole session (position, states, KV up to the position, history, last logits row,
  // sampler RNG) as a self-describing blob, and back. restore() checks the model fingerprint
  // and every size; on failure the session is unchanged.
  Status snapshot(std::vector<uint8_t>* out) const;
  Status restore(const uint8_t* data, size_t size);
  // The snapshot written to `path` through a temporary file and a rename; load reads it back.
  Status save_file(const std::string& path) const;
  Status load_file(const std::string& path);

  Status clone(std::unique_ptr<Session>* out) const;

  explicit Session(std::unique_ptr<Impl> impl);  // made by Model::create_session and clone()

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace petrel
