// Sessions: one sequence each, with its own state (recurrent + conv per DeltaNet layer, KV cache
// per attention layer), token history, last logits and sampler RNG. evaluate() checks everything
// that can be checked before touching the state (token ids, the context limit, KV space), then
// runs the batch through the model in micro-batches so scratch memory stays bounded however long
// the prompt is. A cancellation is checked between micro-batches and undoes the whole call (see
// RecurrentBackup). Snapshots and files live in snapshot.cpp.
#include <algorithm>
#include <new>

#include "engine/engine_impl.h"

namespace petrel {
namespace {

// Largest batch one forward call takes; longer prompts run as several calls (same result).
constexpr int64_t kMicroBatch = 512;

// What an evaluation cannot undo by itself: the DeltaNet layers' conv and recurrent states, which
// every token overwrites. The rest of a session rolls back for free: attention layers only append
// K and V rows past the position (rows past it are never read, and the next evaluation overwrites
// them), the history is truncated, and the last logits are only replaced at the very end. So a
// cancellable evaluation longer than one micro-batch copies these states to the host once, before
// its first micro-batch: state_bytes_fixed (a few MB to ~100 MB), small next to the work of the
// 512+ tokens it is about to run, and it makes a cancelled call leave the session exactly as it
// was.
class RecurrentBackup {
 public:
  void save(const qwen35::Hparams& hp, Backend& backend, const qwen35::SequenceState& st) {
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (!hp.recurrent[static_cast<size_t>(il)]) continue;
      const qwen35::LayerState& ls = st.layers[static_cast<size_t>(il)];
      for (const TensorBuffer* t : {&ls.conv, &ls.ssm}) {
        saved_.emplace_back(static_cast<size_t>(t->n_elements()));
        backend.download(t->tensor(), saved_.back().data());
      }
    }
  }
  // Puts the session back where it was when save() ran (the history then held `history` tokens).
  void rewind(const qwen35::Hparams& hp, Backend& backend, Session::Impl* s, int64_t position, size_t history) {
    qwen35::SequenceState* st = &s->state;
    size_t i = 0;
    for (int32_t il = 0; il < hp.n_layer; ++il) {
      if (!hp.recurrent[static_cast<size_t>(il)]) continue;
      qwen35::LayerState& ls = st->layers[static_cast<size_t>(il)];
      for (const TensorBuffer* t : {&ls.conv, &ls.ssm}) backend.upload(saved_[i++].data(), t->tensor());
    }
    st->n_pos = position;
    s->tokens.resize(history);
  }

 private:
  std::vector<std::vector<float>> saved_;  // per recurrent layer: conv, then ssm
};

}  // namespace

Status Model::create_session(const SessionOptions& options, std::unique_ptr<Session>* out) {
  if (options.context_length < 0) {
    return Status(StatusCode::invalid_argument, "createSession: contextLength must be >= 0");
  }
  try {
    auto impl = std::make_unique<Session::Impl>();
    impl->model = shared_from_this();
    impl->context_length = options.context_length > 0 ? options.context_length : impl_->info.context_length;
    const GgmlType kv_type = options.kv_cache_type == KvCacheType::f32 ? GgmlType::F32 : GgmlType::F16;
    PETREL_RETURN_IF_ERROR(qwen35::make_state(impl_->hp, *impl_->backend, kv_type, &impl->state));
    *out = std::make_unique<Session>(std::move(impl));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "not enough memory for a new session");
  }
  return Status();
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

const Model& Session::model() const { return *impl_->model; }
int64_t Session::position() const { return impl_->state.n_pos; }
int64_t Session::context_length() const { return impl_->context_length; }
const std::vector<int32_t>& Session::tokens() const { return impl_->tokens; }
const std::vector<float>& Session::logits() const { return impl_->logits; }
int64_t Session::logits_rows() const { return impl_->logits_rows; }

Status Session::evaluate(const int32_t* tokens, int64_t n, LogitsMode mode, EvaluateControl* control) {
  Impl& s = *impl_;
  Model::Impl& m = s.model->impl();
  const qwen35::Hparams& hp = m.hp;
  if (s.broken) {
    return Status(StatusCode::invalid_argument, "the session's state was lost in a failed evaluation; restore a snapshot first");
  }
  if (n <= 0) return Status(StatusCode::invalid_argument, "evaluate: no tokens given");
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= hp.n_vocab) {
      return Status(StatusCode::invalid_argument, "evaluate: token id " + std::to_string(tokens[i]) + " at index " +
                                                      std::to_string(i) + " is outside the vocabulary (0.." +
                                                      std::to_string(hp.n_vocab - 1) + ")");
    }
  }
  if (s.state.n_pos + n > s.context_length) {
    return Status(StatusCode::invalid_argument,
                  "context length exceeded: the session holds " + std::to_string(s.state.n_pos) + " tokens, " +
                      std::to_string(n) + " more would pass its context length of " + std::to_string(s.context_length));
  }
  Backend& backend = *m.backend;
  PETREL_RETURN_IF_ERROR(qwen35::reserve_kv(hp, backend, &s.state, s.state.n_pos + n, s.context_length));
  PETREL_RETURN_IF_ERROR(qwen35::reserve_workspace(hp, backend, std::min(n, kMicroBatch), &s.workspace));

  const int64_t start_pos = s.state.n_pos;
  const size_t start_history = s.tokens.size();
  RecurrentBackup backup;
  bool backed_up = false;
  bool touched = false;  // a forward pass has started changing the state
  try {
    s.tokens.reserve(s.tokens.size() + static_cast<size_t>(n));
    std::vector<float> chunk_logits;
    std::vector<float> all_logits;
    if (mode == LogitsMode::all) all_logits.reserve(static_cast<size_t>(n) * static_cast<size_t>(hp.n_vocab));
    std::lock_guard<std::mutex> lock(m.compute_mutex);
    if (control && n > kMicroBatch) {
      backup.save(hp, backend, s.state);
      if (Status st = backend.sync(); !st.ok()) return Status(st.code(), "evaluate: " + st.message());
      backed_up = true;
    }
    for (int64_t done = 0; done < n;) {
      if (control && control->cancel.load(std::memory_order_relaxed)) {
        if (done > 0) backup.rewind(hp, backend, &s, start_pos, start_history);
        control->cancelled = true;
        return Status(StatusCode::invalid_argument, "evaluate: cancelled; the session is back at position " +
                                                        std::to_string(start_pos));
      }
      const int64_t chunk = std::min(kMicroBatch, n - done);
      const bool last_chunk = done + chunk == n;
      qwen35::OutputRows rows = qwen35::OutputRows::none;
      if (mode == LogitsMode::all) rows = qwen35::OutputRows::all;
      if (mode == LogitsMode::last && last_chunk) rows = qwen35::OutputRows::last;
      touched = true;
      const Status st = qwen35::forward(hp, m.weights, backend, m.offload.get(), s.workspace, &s.state, tokens + done,
                                        chunk, rows, &chunk_logits);
      if (!st.ok()) {
        // The device failed part-way (ops cannot fail on the CPU): the state is undefined.
        if (backed_up) {
          backup.rewind(hp, backend, &s, start_pos, start_history);
          if (backend.sync().ok()) {
            return Status(st.code(), "evaluate: " + st.message() + " (the session is back at position " +
                                         std::to_string(start_pos) + ")");
          }
        }
        s.broken = true;
        return Status(st.code(), "evaluate: " + st.message() + " (the session must be restored from a snapshot)");
      }
      s.tokens.insert(s.tokens.end(), tokens + done, tokens + done + chunk);
      if (mode == LogitsMode::all) all_logits.insert(all_logits.end(), chunk_logits.begin(), chunk_logits.end());
      done += chunk;
      if (control && control->on_progress && done < n) control->on_progress(done, n);
    }
    switch (mode) {
      case LogitsMode::none:
        s.logits.clear();
        s.logits_rows = 0;
        break;
      case LogitsMode::last:
        s.logits.swap(chunk_logits);
        s.logits_rows = 1;
        break;
      case LogitsMode::all:
        s.logits.swap(all_logits);
        s.logits_rows = n;
        break;
    }
  } catch (const std::bad_alloc&) {
    if (!touched) return Status(StatusCode::out_of_memory, "evaluate: out of memory");
    if (backed_up) {
      backup.rewind(hp, backend, &s, start_pos, start_history);
      return Status(StatusCode::out_of_memory, "evaluate: out of memory (the session is back at position " +
                                                   std::to_string(start_pos) + ")");
    }
    s.broken = true;
    return Status(StatusCode::out_of_memory, "evaluate: out of memory (the session must be restored from a snapshot)");
  }
  return Status();
}

Status Session::sample(const SamplingParams& params, int32_t* token) {
  Impl& s = *impl_;
  const int32_t n_vocab = s.model->impl().hp.n_vocab;
  if (s.logits_rows == 0 || s.logits.size() < static_cast<size_t>(n_vocab)) {
    return Status(StatusCode::invalid_argument,
                  "sample: there are no logits to sample from; evaluate tokens with logits 'last' (or prefill a prompt) first");
  }
  const float* last = s.logits.data() + (s.logits_rows - 1) * static_cast<int64_t>(n_vocab);
  try {
    return sample_token(last, n_vocab, params, s.tokens.data(), s.tokens.size(), s.rng, s.sampler, token);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "sample: out of memory");
  }
}

void Session::seed_sampler(uint64_t seed) { impl_->rng.seed(seed); }

Status Session::clone(std::unique_ptr<Session>* out) const {
  const Impl& s = *impl_;
  if (s.broken) return Status(StatusCode::invalid_argument, "clone: the session's state was lost in a failed evaluation");
  try {
    auto impl = std::make_unique<Impl>();
    impl->model = s.model;
    impl->context_length = s.context_length;
    // A deep copy: states and KV (the KV copy keeps its capacity).
    const Model::Impl& m = s.model->impl();
    std::lock_guard<std::mutex> lock(m.compute_mutex);
    PETREL_RETURN_IF_ERROR(qwen35::copy_state(m.hp, *m.backend, s.state, &impl->state));
    if (Status st = m.backend->sync(); !st.ok()) return Status(st.code(), "clone: " + st.message());
    impl->tokens = s.tokens;
    impl->logits = s.logits;
    impl->logits_rows = s.logits_rows;
    impl->rng = s.rng;
    *out = std::make_unique<Session>(std::move(impl));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, "clone: not enough memory for a copy of the session");
  }
  return Status();
}

}  // namespace petrel
