// The NativeSession class (src/engine/native.ts): evaluate (AsyncWorker, with progress through a
// thread-safe function), cancel, sample, seedSampler, save/restore (memory blobs), saveFile/loadFile
// (AsyncWorkers), clone, dispose.
// One session runs one thing at a time: while an evaluation or file operation is in flight every
// other call fails with ERR_SESSION_BUSY instead of racing the worker thread; cancel() is the
// exception: it sets the in-flight evaluation's flag, which the engine checks between
// micro-batches. The worker holds a reference to the JavaScript object, so a session cannot be
// collected mid-evaluation; dispose() during one is deferred until the worker finishes.
#include <cmath>
#include <cstring>
#include <vector>

#include "addon/engine/engine_wrap.h"

namespace petrel::addon::engine {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;
thread_local Napi::FunctionReference* g_session_ctor = nullptr;

class SessionWrap;

// A failed restore: ERR_SNAPSHOT_MODEL_MISMATCH when the snapshot is another model's, else the Status's code.
Napi::Error snapshot_error(Napi::Env env, const Status& st, bool other_model) {
  return other_model ? coded_error(env, kErrSnapshotModel, st.message()) : status_error(env, st);
}

// Base for the session's workers: clears the busy flag and settles the promise on the JS thread.
class SessionWorker : public Napi::AsyncWorker {
 public:
  SessionWorker(Napi::Env env, const char* name, SessionWrap* owner, Napi::Object self, Napi::Promise::Deferred deferred);

 protected:
  void OnOK() override;
  void OnError(const Napi::Error& e) override;
  // Resolves on success; subclasses may build the value.
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }
  void finish();

  SessionWrap* owner_;
  Napi::ObjectReference self_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Session> session_;
  Status status_;
};

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeSession",
                       {
                           InstanceAccessor("position", &SessionWrap::position, nullptr, napi_enumerable),
                           InstanceAccessor("contextLength", &SessionWrap::context_length, nullptr, napi_enumerable),
                           InstanceAccessor("busy", &SessionWrap::busy_getter, nullptr, napi_enumerable),
                           InstanceAccessor("disposed", &SessionWrap::disposed_getter, nullptr, napi_enumerable),
                           InstanceMethod("evaluate", &SessionWrap::evaluate),
                           InstanceMethod("cancel", &SessionWrap::cancel),
                           InstanceMethod("sample", &SessionWrap::sample),
                           InstanceMethod("seedSampler", &SessionWrap::seed_sampler),
                           InstanceMethod("save", &SessionWrap::save),
                           InstanceMethod("restore", &SessionWrap::restore),
                           InstanceMethod("saveFile", &SessionWrap::save_file),
                           InstanceMethod("loadFile", &SessionWrap::load_file),
                           InstanceMethod("clone", &SessionWrap::clone),
                           InstanceMethod("dispose", &SessionWrap::dispose),
                       });
  }

  static inline thread_local std::unique_ptr<Session>* pending = nullptr;

  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    if (!pending) {
      throw_invalid(info.Env(), "NativeSession cannot be constructed directly; use model.createSession()");
      return;
    }
    session_ = std::shared_ptr<Session>(std::move(*pending));
    pending = nullptr;
  }

  // Called by workers on the JS thread when they finish.
  void worker_done() {
    busy_ = false;
    control_.reset();
    if (dispose_pending_) session_.reset();
  }
  const std::shared_ptr<Session>& session() const { return session_; }

 private:
  // Throws unless the session is usable now (not disposed, not busy).
  bool check_ready(Napi::Env env, const char* method) {
    if (!session_ || dispose_pending_) {
      coded_error(env, kErrDisposed, std::string("NativeSession.") + method + "() called after dispose()")
          .ThrowAsJavaScriptException();
      return false;
    }
    if (busy_) {
      coded_error(env, kErrBusy,
                  std::string("NativeSession.") + method +
                      "(): the session is busy with another evaluation or file operation; await it first")
          .ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // The pending exception as a rejected promise (N-API refuses to create a promise while an
  // exception is pending, so take it off first).
  Napi::Promise rejected(Napi::Env env) {
    Napi::Error err = env.GetAndClearPendingException();
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(err.Value());
    return d.Promise();
  }

  Napi::Value position(const Napi::CallbackInfo& cb) {
    return Napi::Number::New(cb.Env(), session_ ? static_cast<double>(session_->position()) : 0.0);
  }
  Napi::Value context_length(const Napi::CallbackInfo& cb) {
    return Napi::Number::New(cb.Env(), session_ ? static_cast<double>(session_->context_length()) : 0.0);
  }
  Napi::Value busy_getter(const Napi::CallbackInfo& cb) { return Napi::Boolean::New(cb.Env(), busy_); }
  Napi::Value disposed_getter(const Napi::CallbackInfo& cb) {
    return Napi::Boolean::New(cb.Env(), !session_ || dispose_pending_);
  }

  Napi::Value evaluate(const Napi::CallbackInfo& cb);

  // Stops the in-flight evaluation before its next micro-batch; a no-op when none runs.
  Napi::Value cancel(const Napi::CallbackInfo& cb) {
    if (control_) control_->cancel.store(true, std::memory_order_relaxed);
    return cb.Env().Undefined();
  }
  Napi::Value save_file(const Napi::CallbackInfo& cb);
  Napi::Value load_file(const Napi::CallbackInfo& cb);

  Napi::Value sample(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_ready(env, "sample")) return env.Undefined();
    SamplingParams params;
    if (cb.Length() >= 1 && !cb[0].IsUndefined() && !cb[0].IsNull()) {
      if (!cb[0].IsObject()) {
        throw_invalid(env, "sample(params): params must be an object");
        return env.Undefined();
      }
      Napi::Object o = cb[0].As<Napi::Object>();
      if (!read_float(env, o, "temperature", &params.temperature) || !read_float(env, o, "topP", &params.top_p) ||
          !read_float(env, o, "minP", &params.min_p) || !read_float(env, o, "repeatPenalty", &params.repeat_penalty) ||
          !read_float(env, o, "presencePenalty", &params.presence_penalty) ||
          !read_float(env, o, "frequencyPenalty", &params.frequency_penalty) ||
          !read_int(env, o, "topK", &params.top_k) || !read_int(env, o, "penaltyLastN", &params.penalty_last_n)) {
        return env.Undefined();
      }
    }
    int32_t token = -1;
    const Status st = session_->sample(params, &token);
    if (!st.ok()) {
      throw_status(env, st);
      return env.Undefined();
    }
    return Napi::Number::New(env, token);
  }

  static bool read_float(Napi::Env env, Napi::Object o, const char* key, float* out) {
    Napi::Value v = o.Get(key);
    if (env.IsExceptionPending()) return false;
    if (v.IsUndefined() || v.IsNull()) return true;
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
      throw_invalid(env, std::string("sample(params): ") + key + " must be a finite number");
      return false;
    }
    *out = static_cast<float>(v.As<Napi::Number>().DoubleValue());
    return true;
  }

  static bool read_int(Napi::Env env, Napi::Object o, const char* key, int32_t* out) {
    Napi::Value v = o.Get(key);
    if (env.IsExceptionPending()) return false;
    if (v.IsUndefined() || v.IsNull()) return true;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 2147483647.0) {
      throw_invalid(env, std::string("sample(params): ") + key + " must be a whole number");
      return false;
    }
    *out = static_cast<int32_t>(d);
    return true;
  }

  Napi::Value seed_sampler(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_ready(env, "seedSampler")) return env.Undefined();
    uint64_t seed = 0;
    if (cb.Length() >= 1 && cb[0].IsBigInt()) {
      bool lossless = false;
      seed = cb[0].As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) {
        throw_invalid(env, "seedSampler(seed): a bigint seed must fit in 64 unsigned bits");
        return env.Undefined();
      }
    } else if (cb.Length() >= 1 && cb[0].IsNumber()) {
      const double d = cb[0].As<Napi::Number>().DoubleValue();
      if (!std::isfinite(d) || d < 0 || d != std::trunc(d) || d > kMaxSafeInteger) {
        throw_invalid(env, "seedSampler(seed): seed must be a whole number from 0 to 2^53-1 (or a bigint)");
        return env.Undefined();
      }
      seed = static_cast<uint64_t>(d);
    } else {
      throw_invalid(env, "seedSampler(seed): seed must be a number or a bigint");
      return env.Undefined();
    }
    session_->seed_sampler(seed);
    return env.Undefined();
  }

  Napi::Value save(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_ready(env, "save")) return env.Undefined();
    std::vector<uint8_t> blob;
    const Status st = session_->snapshot(&blob);
    if (!st.ok()) {
      throw_status(env, st);
      return env.Undefined();
    }
    Napi::Uint8Array out = Napi::Uint8Array::New(env, blob.size());
    if (env.IsExceptionPending()) return env.Undefined();
    std::memcpy(out.Data(), blob.data(), blob.size());
    return out;
  }

  Napi::Value restore(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_ready(env, "restore")) return env.Undefined();
    if (cb.Length() < 1 || !cb[0].IsTypedArray() ||
        cb[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw_invalid(env, "restore(snapshot): snapshot must be a Uint8Array from save()");
      return env.Undefined();
    }
    Napi::Uint8Array a = cb[0].As<Napi::Uint8Array>();
    bool other_model = false;
    const Status st = session_->restore(a.Data(), a.ByteLength(), &other_model);
    if (!st.ok()) snapshot_error(env, st, other_model).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value clone(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_ready(env, "clone")) return env.Undefined();
    std::unique_ptr<Session> copy;
    const Status st = session_->clone(&copy);
    if (!st.ok()) {
      throw_status(env, st);
      return env.Undefined();
    }
    return make_session_object(env, std::move(copy));
  }

  Napi::Value dispose(const Napi::CallbackInfo& cb) {
    if (busy_) {
      dispose_pending_ = true;  // the worker releases it when it finishes
    } else {
      session_.reset();
    }
    return cb.Env().Undefined();
  }

  friend class SessionWorker;
  friend class EvaluateWorker;
  std::shared_ptr<Session> session_;
  std::shared_ptr<EvaluateControl> control_;  // of the evaluation in flight
  bool busy_ = false;
  bool dispose_pending_ = false;
};

SessionWorker::SessionWorker(Napi::Env env, const char* name, SessionWrap* owner, Napi::Object self,
                             Napi::Promise::Deferred deferred)
    : Napi::AsyncWorker(env, name),
      owner_(owner),
      self_(Napi::Persistent(self)),
      deferred_(deferred),
      session_(owner->session_) {
  owner_->busy_ = true;
}

void SessionWorker::finish() {
  owner_->worker_done();
  self_.Reset();
}

void SessionWorker::OnOK() {
  Napi::Env env = Env();
  finish();
  if (!status_.ok()) {
    deferred_.Reject(status_error(env, status_).Value());
    return;
  }
  Napi::Value v = result(env);
  if (env.IsExceptionPending()) {
    deferred_.Reject(env.GetAndClearPendingException().Value());
    return;
  }
  deferred_.Resolve(v);
}

void SessionWorker::OnError(const Napi::Error& e) {
  finish();
  deferred_.Reject(e.Value());
}

class EvaluateWorker : public SessionWorker {
 public:
  EvaluateWorker(Napi::Env env, SessionWrap* owner, Napi::Object self, Napi::Promise::Deferred deferred,
                 std::vector<int32_t> tokens, LogitsMode mode, bool return_logits, Napi::Function on_progress)
      : SessionWorker(env, "petrel.evaluate", owner, self, deferred),
        tokens_(std::move(tokens)),
        mode_(mode),
        return_logits_(return_logits),
        control_(std::make_shared<EvaluateControl>()) {
    owner->control_ = control_;
    if (!on_progress.IsEmpty()) {
      progress_ = Napi::ThreadSafeFunction::New(env, on_progress, "petrel.evaluate.progress", 0, 1);
      control_->on_progress = [this](int64_t done, int64_t total) {
        // Non-blocking: the forward pass never waits for JavaScript; a report that cannot be queued is dropped.
        progress_.NonBlockingCall([done, total](Napi::Env e, Napi::Function fn) {
          fn.Call({Napi::Number::New(e, static_cast<double>(done)), Napi::Number::New(e, static_cast<double>(total))});
        });
      };
    }
  }

 protected:
  void Execute() override {
    status_ = session_->evaluate(tokens_.data(), static_cast<int64_t>(tokens_.size()), mode_, control_.get());
    if (progress_) progress_.Release();
  }
  void OnOK() override {
    if (control_->cancelled) {
      Napi::Env env = Env();
      finish();
      deferred_.Reject(coded_error(env, kErrAborted, "evaluation aborted; the session is back at position " +
                                                         std::to_string(session_->position()))
                           .Value());
      return;
    }
    SessionWorker::OnOK();
  }
  Napi::Value result(Napi::Env env) override {
    if (mode_ == LogitsMode::none || !return_logits_) return env.Undefined();
    const std::vector<float>& logits = session_->logits();
    Napi::Float32Array out = Napi::Float32Array::New(env, logits.size());
    if (env.IsExceptionPending()) return env.Undefined();
    std::memcpy(out.Data(), logits.data(), logits.size() * sizeof(float));
    return out;
  }

 private:
  std::vector<int32_t> tokens_;
  LogitsMode mode_;
  bool return_logits_;
  std::shared_ptr<EvaluateControl> control_;
  Napi::ThreadSafeFunction progress_;
};

class FileWorker : public SessionWorker {
 public:
  FileWorker(Napi::Env env, SessionWrap* owner, Napi::Object self, Napi::Promise::Deferred deferred, std::string path,
             bool save)
      : SessionWorker(env, save ? "petrel.saveFile" : "petrel.loadFile", owner, self, deferred),
        path_(std::move(path)),
        save_(save) {}

 protected:
  void Execute() override { status_ = save_ ? session_->save_file(path_) : session_->load_file(path_, &other_model_); }
  void OnOK() override {
    if (!status_.ok() && other_model_) {
      Napi::Env env = Env();
      finish();
      deferred_.Reject(snapshot_error(env, status_, true).Value());
      return;
    }
    SessionWorker::OnOK();
  }

 private:
  bool other_model_ = false;
  std::string path_;
  bool save_;
};

Napi::Value SessionWrap::evaluate(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  if (!check_ready(env, "evaluate")) return rejected(env);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto reject_invalid = [&](const std::string& msg) {
    deferred.Reject(status_error(env, Status(StatusCode::invalid_argument, msg)).Value());
    return deferred.Promise();
  };
  if (cb.Length() < 1 || !cb[0].IsTypedArray() || cb[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    return reject_invalid("evaluate(tokens, logits): tokens must be an Int32Array");
  }
  Napi::Int32Array arr = cb[0].As<Napi::Int32Array>();
  if (arr.ElementLength() == 0) return reject_invalid("evaluate(tokens, logits): tokens is empty");
  LogitsMode mode = LogitsMode::none;
  const std::string want = cb.Length() >= 2 && cb[1].IsString() ? cb[1].As<Napi::String>().Utf8Value() : "";
  if (want == "none") mode = LogitsMode::none;
  else if (want == "last") mode = LogitsMode::last;
  else if (want == "all") mode = LogitsMode::all;
  else return reject_invalid("evaluate(tokens, logits): logits must be 'none', 'last' or 'all'");
  const bool return_logits = !(cb.Length() >= 3 && cb[2].IsBoolean() && !cb[2].As<Napi::Boolean>().Value());
  Napi::Function on_progress;
  if (cb.Length() >= 4 && !cb[3].IsUndefined() && !cb[3].IsNull()) {
    if (!cb[3].IsFunction()) return reject_invalid("evaluate(tokens, logits, returnLogits, onProgress): onProgress must be a function");
    on_progress = cb[3].As<Napi::Function>();
  }
  const int64_t n = static_cast<int64_t>(arr.ElementLength());
  if (session_->position() + n > session_->context_length()) {
    deferred.Reject(coded_error(env, kErrContextLimit,
                                "context length exceeded: the session holds " + std::to_string(session_->position()) +
                                    " tokens, " + std::to_string(n) + " more would pass its context length of " +
                                    std::to_string(session_->context_length()))
                        .Value());
    return deferred.Promise();
  }
  std::vector<int32_t> tokens(arr.Data(), arr.Data() + n);  // copied: the caller may reuse the array at once
  auto* worker = new EvaluateWorker(env, this, Value(), deferred, std::move(tokens), mode, return_logits, on_progress);
  worker->Queue();
  return deferred.Promise();
}

Napi::Value SessionWrap::save_file(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  if (!check_ready(env, "saveFile")) return rejected(env);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (cb.Length() < 1 || !cb[0].IsString() || cb[0].As<Napi::String>().Utf8Value().empty()) {
    deferred.Reject(status_error(env, Status(StatusCode::invalid_argument, "saveFile(path): path must be a non-empty string")).Value());
    return deferred.Promise();
  }
  auto* worker = new FileWorker(env, this, Value(), deferred, cb[0].As<Napi::String>().Utf8Value(), true);
  worker->Queue();
  return deferred.Promise();
}

Napi::Value SessionWrap::load_file(const Napi::CallbackInfo& cb) {
  Napi::Env env = cb.Env();
  if (!check_ready(env, "loadFile")) return rejected(env);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (cb.Length() < 1 || !cb[0].IsString() || cb[0].As<Napi::String>().Utf8Value().empty()) {
    deferred.Reject(status_error(env, Status(StatusCode::invalid_argument, "loadFile(path): path must be a non-empty string")).Value());
    return deferred.Promise();
  }
  auto* worker = new FileWorker(env, this, Value(), deferred, cb[0].As<Napi::String>().Utf8Value(), false);
  worker->Queue();
  return deferred.Promise();
}

}  // namespace

Napi::Function define_session_class(Napi::Env env) { return SessionWrap::define(env); }

void set_session_constructor(Napi::FunctionReference* ctor) { g_session_ctor = ctor; }

Napi::Value make_session_object(Napi::Env env, std::unique_ptr<Session> session) {
  if (!g_session_ctor) {
    throw_invalid(env, "the engine is not initialised");
    return env.Undefined();
  }
  SessionWrap::pending = &session;
  Napi::Object obj = g_session_ctor->New({});
  SessionWrap::pending = nullptr;
  if (env.IsExceptionPending()) return env.Undefined();
  return obj;
}

}  // namespace petrel::addon::engine
