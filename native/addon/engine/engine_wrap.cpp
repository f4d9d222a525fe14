// loadModel(path, options) -> Promise<NativeModel> and the NativeModel class (src/native/engine.ts).
// Loading runs in an AsyncWorker (opening, metadata, weight binding, thread pool start); the
// JavaScript object only holds a shared_ptr to the Model, which its sessions share, so dispose()
// frees the model once its last session is gone.
#include "addon/engine/engine_wrap.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace petrel::addon::engine {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// Reads an optional non-negative integer option; false (with a JS exception) when malformed.
bool optional_count(Napi::Env env, Napi::Object opts, const char* key, const char* where, int64_t* out) {
  if (!opts.Has(key)) return true;
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) {
    throw_invalid(env, std::string(where) + ": " + key + " must be a number");
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || d != std::trunc(d) || d > kMaxSafeInteger) {
    throw_invalid(env, std::string(where) + ": " + key + " must be a whole number >= 0");
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// loadModel's `offload` object and `routingTrace` path into OffloadOptions; false (with a JS
// exception) when malformed.
bool offload_options(Napi::Env env, Napi::Object opts, OffloadOptions* out) {
  const char* where = "loadModel";
  if (opts.Has("routingTrace") && !opts.Get("routingTrace").IsUndefined()) {
    if (!opts.Get("routingTrace").IsString()) {
      throw_invalid(env, "loadModel: routingTrace must be a file path");
      return false;
    }
    out->routing_trace_path = opts.Get("routingTrace").As<Napi::String>().Utf8Value();
  }
  if (!opts.Has("offload") || opts.Get("offload").IsUndefined() || opts.Get("offload").IsNull()) return true;
  if (!opts.Get("offload").IsObject()) {
    throw_invalid(env, "loadModel: offload must be an object");
    return false;
  }
  Napi::Object o = opts.Get("offload").As<Napi::Object>();
  const std::string device = o.Has("device") && o.Get("device").IsString() ? o.Get("device").As<Napi::String>().Utf8Value() : "";
  if (device == "simulated") {
    out->device = OffloadDevice::simulated;
  } else if (device != "none") {
    throw_invalid(env, "loadModel: offload.device must be 'simulated' or 'none'");
    return false;
  }
  int64_t vram = 0, reserve = static_cast<int64_t>(out->reserve_bytes), uploads = out->max_uploads_per_layer;
  if (!optional_count(env, o, "vramBytes", where, &vram) || !optional_count(env, o, "reserveBytes", where, &reserve) ||
      !optional_count(env, o, "maxUploadsPerLayer", where, &uploads) ||
      !optional_count(env, o, "streamMinTokens", where, &out->stream_min_tokens)) {
    return false;
  }
  int64_t host = 0;
  if (!optional_count(env, o, "assumeHostMemoryBytes", where, &host)) return false;
  out->assume_host_memory_bytes = static_cast<uint64_t>(host);
  if (uploads > 1 << 20) {
    throw_invalid(env, "loadModel: offload.maxUploadsPerLayer is too large");
    return false;
  }
  out->vram_bytes = static_cast<uint64_t>(vram);
  out->reserve_bytes = static_cast<uint64_t>(reserve);
  out->max_uploads_per_layer = static_cast<int32_t>(uploads);
  if (o.Has("eviction") && !o.Get("eviction").IsUndefined()) {
    const std::string e = o.Get("eviction").IsString() ? o.Get("eviction").As<Napi::String>().Utf8Value() : "";
    if (e == "lru") {
      out->eviction = ExpertEviction::lru;
    } else if (e == "lfu") {
      out->eviction = ExpertEviction::lfu;
    } else if (e == "lrfu") {
      out->eviction = ExpertEviction::lrfu;
    } else {
      throw_invalid(env, "loadModel: offload.eviction must be 'lru', 'lfu' or 'lrfu'");
      return false;
    }
  }
  if (o.Has("decay") && !o.Get("decay").IsUndefined()) {
    const double d = o.Get("decay").IsNumber() ? o.Get("decay").As<Napi::Number>().DoubleValue() : -1.0;
    if (!(d > 0.0 && d <= 1.0)) {
      throw_invalid(env, "loadModel: offload.decay must be a number in (0, 1]");
      return false;
    }
    out->decay = d;
  }
  for (const auto& [key, field] : {std::pair<const char*, bool*>{"prefetch", &out->prefetch},
                                   std::pair<const char*, bool*>{"prefillStreaming", &out->prefill_streaming}}) {
    if (!o.Has(key) || o.Get(key).IsUndefined()) continue;
    if (!o.Get(key).IsBoolean()) {
      throw_invalid(env, std::string("loadModel: offload.") + key + " must be a boolean");
      return false;
    }
    *field = o.Get(key).As<Napi::Boolean>().Value();
  }
  return true;
}

// loadModel's `device` ('auto' | 'cpu' | 'vulkan'; default 'cpu') and `gpuLayers` (llama.cpp's
// -ngl: a whole number from -1 to INT32_MAX, -1 = not given) into ModelOptions; false (with a JS
// exception) when malformed. Which combinations load is the engine's to say (Model::load).
bool device_options(Napi::Env env, Napi::Object opts, ModelOptions* out) {
  const Napi::Value device = opts.Get("device");
  if (!device.IsUndefined() && !device.IsNull()) {
    const std::string name = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (name == "auto") {
      out->device = DeviceChoice::auto_select;
    } else if (name == "cpu") {
      out->device = DeviceChoice::cpu;
    } else if (name == "vulkan") {
      out->device = DeviceChoice::vulkan;
    } else {
      throw_invalid(env, "loadModel: device must be 'auto', 'cpu' or 'vulkan'");
      return false;
    }
  }
  const Napi::Value layers = opts.Get("gpuLayers");
  if (!layers.IsUndefined() && !layers.IsNull()) {
    const double d = layers.IsNumber() ? layers.As<Napi::Number>().DoubleValue() : std::nan("");
    if (!std::isfinite(d) || d != std::trunc(d) || d < -1 || d > std::numeric_limits<int32_t>::max()) {
      throw_invalid(env, "loadModel: gpuLayers must be a whole number from -1 (not given) to 2147483647");
      return false;
    }
    out->n_gpu_layers = static_cast<int32_t>(d);
  }
  return true;
}

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceAccessor("info", &ModelWrap::info, nullptr, napi_enumerable),
                           InstanceAccessor("disposed", &ModelWrap::disposed, nullptr, napi_enumerable),
                           InstanceMethod("createSession", &ModelWrap::create_session),
                           InstanceMethod("offloadStats", &ModelWrap::offload_stats),
                           InstanceMethod("dispose", &ModelWrap::dispose),
                       });
  }

  // The loader hands the model over through this slot, so JavaScript cannot construct one.
  static inline thread_local std::shared_ptr<Model>* pending = nullptr;

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    if (!pending) {
      throw_invalid(info.Env(), "NativeModel cannot be constructed directly; use loadModel(path)");
      return;
    }
    model_ = std::move(*pending);
    pending = nullptr;
  }

 private:
  bool check_live(Napi::Env env, const char* method) {
    if (model_) return true;
    coded_error(env, kErrDisposed, std::string("NativeModel.") + method + "() called after dispose()")
        .ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value info(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_live(env, "info")) return env.Undefined();
    const ModelInfo& mi = model_->info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("arch", mi.arch);
    o.Set("name", mi.name);
    o.Set("nLayer", mi.n_layer);
    o.Set("nLayerNextn", mi.n_layer_nextn);
    o.Set("nVocab", mi.n_vocab);
    o.Set("nEmbd", mi.n_embd);
    o.Set("contextLengthTrain", static_cast<double>(mi.n_ctx_train));
    o.Set("contextLength", static_cast<double>(mi.context_length));
    o.Set("nExpert", mi.n_expert);
    o.Set("nExpertUsed", mi.n_expert_used);
    o.Set("tiedOutput", mi.tied_output);
    Napi::Array layers = Napi::Array::New(env, mi.recurrent.size());
    for (size_t i = 0; i < mi.recurrent.size(); ++i) {
      layers.Set(static_cast<uint32_t>(i), mi.recurrent[i] ? "deltanet" : "attention");
    }
    o.Set("layerTypes", layers);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(mi.fingerprint));
    o.Set("fingerprint", hex);
    o.Set("stateBytes", static_cast<double>(mi.state_bytes_fixed));
    o.Set("kvBytesPerToken", static_cast<double>(mi.kv_bytes_per_token));
    o.Set("backend", mi.backend);
    o.Set("deviceName", mi.device_name);
    o.Set("deviceNote", mi.device_note);
    return o;
  }

  Napi::Value disposed(const Napi::CallbackInfo& cb) { return Napi::Boolean::New(cb.Env(), !model_); }

  Napi::Value offload_stats(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_live(env, "offloadStats")) return env.Undefined();
    const OffloadStats st = model_->offload_stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("enabled", st.enabled);
    o.Set("device", st.device);
    o.Set("placement", st.placement);
    o.Set("deviceBytes", static_cast<double>(st.device_bytes));
    o.Set("expertBytes", static_cast<double>(st.expert_bytes));
    o.Set("expertSlots", static_cast<double>(st.expert_slots));
    o.Set("experts", static_cast<double>(st.n_experts));
    o.Set("steps", static_cast<double>(st.steps));
    o.Set("rowsSelected", static_cast<double>(st.rows_selected));
    o.Set("rowsOnDevice", static_cast<double>(st.rows_on_device));
    o.Set("expertsSelected", static_cast<double>(st.experts_selected));
    o.Set("expertsOnDevice", static_cast<double>(st.experts_on_device));
    o.Set("uploads", static_cast<double>(st.uploads));
    o.Set("prefetches", static_cast<double>(st.prefetches));
    o.Set("prefetchesUsed", static_cast<double>(st.prefetches_used));
    o.Set("bytesUploaded", static_cast<double>(st.bytes_uploaded));
    o.Set("stagingSlots", static_cast<double>(st.staging_slots));
    o.Set("layersStreamed", static_cast<double>(st.layers_streamed));
    o.Set("expertsStreamed", static_cast<double>(st.experts_streamed));
    o.Set("rowsStreamed", static_cast<double>(st.rows_streamed));
    o.Set("bytesStreamed", static_cast<double>(st.bytes_streamed));
    o.Set("traceError", st.trace_error);
    return o;
  }

  Napi::Value create_session(const Napi::CallbackInfo& cb) {
    Napi::Env env = cb.Env();
    if (!check_live(env, "createSession")) return env.Undefined();
    SessionOptions options;
    if (cb.Length() >= 1 && !cb[0].IsUndefined() && !cb[0].IsNull()) {
      if (!cb[0].IsObject()) {
        throw_invalid(env, "createSession(options): options must be an object");
        return env.Undefined();
      }
      const Napi::Object o = cb[0].As<Napi::Object>();
      if (!optional_count(env, o, "contextLength", "createSession", &options.context_length)) {
        return env.Undefined();
      }
      const Napi::Value kv = o.Get("kvCacheType");
      if (!kv.IsUndefined()) {
        const std::string name = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
        if (name != "f16" && name != "f32") {
          throw_invalid(env, "createSession: kvCacheType must be 'f16' or 'f32'");
          return env.Undefined();
        }
        options.kv_cache_type = name == "f32" ? KvCacheType::f32 : KvCacheType::f16;
      }
    }
    std::unique_ptr<Session> session;
    const Status st = model_->create_session(options, &session);
    if (!st.ok()) {
      throw_status(env, st);
      return env.Undefined();
    }
    return make_session_object(env, std::move(session));
  }

  Napi::Value dispose(const Napi::CallbackInfo& cb) {
    model_.reset();  // sessions keep their own reference
    return cb.Env().Undefined();
  }

  std::shared_ptr<Model> model_;
};

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, Napi::Promise::Deferred deferred, Napi::FunctionReference* ctor, std::string path,
             ModelOptions options)
      : Napi::AsyncWorker(env, "petrel.loadModel"),
        deferred_(deferred),
        ctor_(ctor),
        path_(std::move(path)),
        options_(options) {}

 protected:
  void Execute() override { status_ = Model::load(path_, options_, &model_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(status_error(env, status_).Value());
      return;
    }
    ModelWrap::pending = &model_;
    Napi::Object obj = ctor_->New({});
    ModelWrap::pending = nullptr;
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
      return;
    }
    deferred_.Resolve(obj);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference* ctor_;
  std::string path_;
  ModelOptions options_;
  Status status_;
  std::shared_ptr<Model> model_;
};

Napi::Value load_model(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto reject = [&](const Status& st) {
    deferred.Reject(status_error(env, st).Value());
    return deferred.Promise();
  };
  if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty()) {
    return reject(Status(StatusCode::invalid_argument, "loadModel(path, options): path must be a non-empty string"));
  }
  ModelOptions options;
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) return reject(Status(StatusCode::invalid_argument, "loadModel: options must be an object"));
    Napi::Object opts = info[1].As<Napi::Object>();
    int64_t threads = 0;
    int64_t ctx = 0;
    if (!optional_count(env, opts, "threads", "loadModel", &threads) ||
        !optional_count(env, opts, "contextLength", "loadModel", &ctx)) {
      deferred.Reject(env.GetAndClearPendingException().Value());
      return deferred.Promise();
    }
    if (!offload_options(env, opts, &options.offload) || !device_options(env, opts, &options)) {
      deferred.Reject(env.GetAndClearPendingException().Value());
      return deferred.Promise();
    }
    if (threads > 4096) return reject(Status(StatusCode::invalid_argument, "loadModel: threads must be at most 4096"));
    options.n_threads = static_cast<int>(threads);
    options.context_length = ctx;
  }
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
  auto* worker = new LoadWorker(env, deferred, ctor, info[0].As<Napi::String>().Utf8Value(), options);
  worker->Queue();
  return deferred.Promise();
}

}  // namespace
}  // namespace petrel::addon::engine

namespace petrel::addon {

void init_engine(Napi::Env env, Napi::Object exports) {
  Napi::Function model_cls = engine::ModelWrap::define(env);
  if (env.IsExceptionPending()) return;
  Napi::Function session_cls = engine::define_session_class(env);
  if (env.IsExceptionPending()) return;
  auto* model_ctor = new Napi::FunctionReference(Napi::Persistent(model_cls));
  auto* session_ctor = new Napi::FunctionReference(Napi::Persistent(session_cls));
  env.AddCleanupHook([model_ctor, session_ctor] {
    delete model_ctor;
    delete session_ctor;
  });
  engine::set_session_constructor(session_ctor);
  exports.Set("loadModel", Napi::Function::New(env, engine::load_model, "loadModel", model_ctor));
}

}  // namespace petrel::addon
