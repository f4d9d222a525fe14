// The insides of petrel::Model and petrel::Session (engine.h keeps them opaque). Shared by
// model.cpp (loading), session.cpp (evaluation, sampling, clone) and snapshot.cpp (blobs, files).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/sampler.h"
#include "gguf/model_files.h"
#include "model/qwen35/forward.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/state.h"
#include "model/qwen35/weights.h"
#include "offload/expert_offload.h"
#include "petrel/engine.h"

namespace petrel {

struct Model::Impl {
  std::string path;
  std::unique_ptr<GgufModel> gguf;  // owns the mappings the weights point into
  qwen35::Hparams hp;
  qwen35::ModelWeights weights;
  std::unique_ptr<Backend> backend;
  // MoE expert offload and routing traces (null when neither was asked for). Declared after the
  // backend and weights it refers to, so it goes first.
  std::unique_ptr<offload::ExpertOffload> offload;
  // The backend is one thread pool (or one device queue): forward passes, snapshots, restores and
  // clones of different sessions take turns on it, so a device error reaches the call that
  // caused it (Backend::sync).
  mutable std::mutex compute_mutex;
  ModelInfo info;
  // Model::weights_digest(), computed once on first use.
  mutable std::once_flag digest_once;
  mutable uint64_t digest = 0;
};

struct Session::Impl {
  std::shared_ptr<Model> model;
  int64_t context_length = 0;
  qwen35::SequenceState state;
  qwen35::Workspace workspace;
  std::vector<int32_t> tokens;  // history, tokens.size() == state.n_pos
  std::vector<float> logits;    // rows of n_vocab from the last evaluate
  int64_t logits_rows = 0;
  Rng rng;
  SamplerScratch sampler;
  // Set when an evaluation failed half-way (out of memory): the state is then undefined, and only
  // restore() makes the session usable again.
  bool broken = false;
};

// The model fingerprint a snapshot must match (arch, layer pattern, dimensions, tensor count).
uint64_t model_fingerprint(const qwen35::Hparams& hp, uint64_t n_tensors);
// The digest behind Model::weights_digest() (reads the header bytes and samples every tensor).
uint64_t model_weights_digest(const GgufModel& gguf);

}  // namespace petrel
