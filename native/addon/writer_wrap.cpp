// writeGguf(path, spec, onProgress?) -> Promise<void> (GgufWriteSpec in src/engine/native.ts).
// The spec is checked completely on the JS thread (every field's type and range, ggml types,
// shape vs data length) and a bad one rejects with ERR_INVALID_ARGUMENT; the typed arrays are
// copied, so the caller may reuse or transfer them at once. The write itself runs in an
// AsyncProgressWorker; progress reaches onProgress(written, total) on the JS thread, coalesced.
// If onProgress throws, the write is cancelled (temporary file removed) and the promise rejects
// with what it threw.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "addon/init.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "quant/ggml_type.h"
#include "synth/random_source.h"
#include "synth/recipe.h"

namespace petrel::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

// Everything the worker needs; the copies of the caller's typed arrays live here.
struct WriteJob {
  std::unique_ptr<GgufWriter> writer;
  std::vector<std::vector<float>> f32_store;
  std::vector<std::vector<uint8_t>> raw_store;
};

bool type_from_name(const std::string& name, GgufType* out) {
  for (uint32_t id = 0; id < kGgufTypeCount; ++id) {
    if (name == gguf_type_name(static_cast<GgufType>(id))) {
      *out = static_cast<GgufType>(id);
      return true;
    }
  }
  return false;
}

// Parses one value of a fixed-size or string type. On failure sets *err.
bool js_to_scalar(Napi::Value v, GgufType type, const std::string& where, GgufValue* out, std::string* err) {
  auto integer = [&](double lo, double hi, const char* range) -> std::optional<double> {
    if (v.IsNumber()) {
      const double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && d == std::trunc(d) && d >= lo && d <= hi) return d;
    }
    *err = where + ": expected an integer from " + range;
    return std::nullopt;
  };
  switch (type) {
    case GgufType::UINT8: { auto d = integer(0, 255, "0 to 255"); if (!d) return false; *out = GgufValue::u8(static_cast<uint8_t>(*d)); return true; }
    case GgufType::INT8: { auto d = integer(-128, 127, "-128 to 127"); if (!d) return false; *out = GgufValue::i8(static_cast<int8_t>(*d)); return true; }
    case GgufType::UINT16: { auto d = integer(0, 65535, "0 to 65535"); if (!d) return false; *out = GgufValue::u16(static_cast<uint16_t>(*d)); return true; }
    case GgufType::INT16: { auto d = integer(-32768, 32767, "-32768 to 32767"); if (!d) return false; *out = GgufValue::i16(static_cast<int16_t>(*d)); return true; }
    case GgufType::UINT32: { auto d = integer(0, 4294967295.0, "0 to 4294967295"); if (!d) return false; *out = GgufValue::u32(static_cast<uint32_t>(*d)); return true; }
    case GgufType::INT32: { auto d = integer(-2147483648.0, 2147483647.0, "-2147483648 to 2147483647"); if (!d) return false; *out = GgufValue::i32(static_cast<int32_t>(*d)); return true; }
    case GgufType::UINT64:
      if (v.IsBigInt()) {
        bool lossless = false;
        const uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
        if (!lossless) {
          *err = where + ": bigint does not fit u64";
          return false;
        }
        *out = GgufValue::u64(u);
        return true;
      } else {
        auto d = integer(0, 18446744073709549568.0, "0 to 2^64-1 (or a bigint)");
        if (!d) return false;
        *out = GgufValue::u64(static_cast<uint64_t>(*d));
        return true;
      }
    case GgufType::INT64:
      if (v.IsBigInt()) {
        bool lossless = false;
        const int64_t i = v.As<Napi::BigInt>().Int64Value(&lossless);
        if (!lossless) {
          *err = where + ": bigint does not fit i64";
          return false;
        }
        *out = GgufValue::i64(i);
        return true;
      } else {
        auto d = integer(-9223372036854775808.0, 9223372036854774784.0, "-2^63 to 2^63-1 (or a bigint)");
        if (!d) return false;
        *out = GgufValue::i64(static_cast<int64_t>(*d));
        return true;
      }
    case GgufType::FLOAT32:
    case GgufType::FLOAT64:
      if (!v.IsNumber()) {
        *err = where + ": expected a number";
        return false;
      }
      *out = type == GgufType::FLOAT32 ? GgufValue::f32(static_cast<float>(v.As<Napi::Number>().DoubleValue()))
                                       : GgufValue::f64(v.As<Napi::Number>().DoubleValue());
      return true;
    case GgufType::BOOL:
      if (!v.IsBoolean()) {
        *err = where + ": expected a boolean";
        return false;
      }
      *out = GgufValue::boolean(v.As<Napi::Boolean>().Value());
      return true;
    case GgufType::STRING:
      if (!v.IsString()) {
        *err = where + ": expected a string";
        return false;
      }
      *out = GgufValue::str(v.As<Napi::String>().Utf8Value());
      return true;
    case GgufType::ARRAY: break;
  }
  *err = where + ": internal error (array where a scalar was expected)";
  return false;
}

// An array value: `items` is a JS array of scalars, or of {itemType, value} for arrays of arrays.
bool js_to_array(Napi::Value items, GgufType item_type, const std::string& where, int depth, GgufValue* out,
                 std::string* err) {
  if (depth > kGgufMaxArrayDepth) {
    *err = where + ": arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels";
    return false;
  }
  if (!items.IsArray()) {
    *err = where + ": value must be an array";
    return false;
  }
  Napi::Array a = items.As<Napi::Array>();
  const uint32_t n = a.Length();
  if (item_type == GgufType::ARRAY) {
    std::vector<GgufValue> inner(n);
    for (uint32_t i = 0; i < n; ++i) {
      const std::string w = where + "[" + std::to_string(i) + "]";
      Napi::Value item = a.Get(i);
      if (!item.IsObject()) {
        *err = w + ": expected {itemType, value}";
        return false;
      }
      Napi::Object o = item.As<Napi::Object>();
      Napi::Value it = o.Get("itemType");
      GgufType t;
      if (!it.IsString() || !type_from_name(it.As<Napi::String>().Utf8Value(), &t)) {
        *err = w + ": itemType must be one of u8 i8 u16 i16 u32 i32 f32 bool str arr u64 i64 f64";
        return false;
      }
      if (!js_to_array(o.Get("value"), t, w, depth + 1, &inner[i], err)) return false;
    }
    *out = GgufValue::nested_array(std::move(inner));
  } else if (item_type == GgufType::STRING) {
    std::vector<std::string> strs(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value item = a.Get(i);
      if (!item.IsString()) {
        *err = where + "[" + std::to_string(i) + "]: expected a string";
        return false;
      }
      strs[i] = item.As<Napi::String>().Utf8Value();
    }
    *out = GgufValue::string_array(std::move(strs));
  } else {
    const size_t sz = gguf_type_size(item_type);
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * sz);
    for (uint32_t i = 0; i < n; ++i) {
      GgufValue v;
      if (!js_to_scalar(a.Get(i), item_type, where + "[" + std::to_string(i) + "]", &v, err)) return false;
      const uint64_t bits = v.bits();
      std::memcpy(bytes.data() + i * sz, &bits, sz);
    }
    *out = GgufValue::scalar_array(item_type, bytes.data(), n);
  }
  return true;
}

bool number_field(Napi::Object o, const char* key, const std::string& where, double* out, std::string* err) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    *err = where + "." + key + " must be a finite number";
    return false;
  }
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

bool parse_tensor(Napi::Value value, size_t index, WriteJob* job, std::string* err) {
  const std::string where = "spec.tensors[" + std::to_string(index) + "]";
  if (!value.IsObject()) {
    *err = where + " must be an object";
    return false;
  }
  Napi::Object o = value.As<Napi::Object>();
  GgufWriteTensor t;
  Napi::Value name = o.Get("name");
  if (!name.IsString()) {
    *err = where + ".name must be a string";
    return false;
  }
  t.name = name.As<Napi::String>().Utf8Value();
  const std::string w = where + " (" + gguf_quote(t.name) + ")";
  Napi::Value shape = o.Get("shape");
  if (!shape.IsArray()) {
    *err = w + ".shape must be an array of positive integers";
    return false;
  }
  Napi::Array sa = shape.As<Napi::Array>();
  if (sa.Length() < 1 || sa.Length() > kGgufMaxDims) {
    *err = w + ".shape must have 1 to 4 dimensions";
    return false;
  }
  for (uint32_t i = 0; i < sa.Length(); ++i) {
    Napi::Value d = sa.Get(i);
    const double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 1 && x <= kMaxSafeInteger && x == std::trunc(x))) {
      *err = w + ".shape[" + std::to_string(i) + "] must be a positive integer";
      return false;
    }
    t.shape.push_back(static_cast<int64_t>(x));
  }
  Napi::Value type = o.Get("type");
  const double tid = type.IsNumber() ? type.As<Napi::Number>().DoubleValue() : -1;
  if (!(tid >= 0 && tid <= 4294967295.0 && tid == std::trunc(tid))) {
    *err = w + ".type must be a ggml type id (a non-negative integer)";
    return false;
  }
  t.type_id = static_cast<uint32_t>(tid);
  if (!ggml_type_info(t.type_id)) {
    *err = w + ".type " + std::to_string(t.type_id) + " is not a known ggml type";
    return false;
  }
  Napi::Value source = o.Get("source");
  if (!source.IsObject()) {
    *err = w + ".source must be an object";
    return false;
  }
  Napi::Object src = source.As<Napi::Object>();
  Napi::Value kind_v = src.Get("kind");
  const std::string kind = kind_v.IsString() ? kind_v.As<Napi::String>().Utf8Value() : std::string();
  if (kind == "f32") {
    Napi::Value data = src.Get("data");
    if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      *err = w + ".source.data must be a Float32Array";
      return false;
    }
    Napi::Float32Array fa = data.As<Napi::Float32Array>();
    job->f32_store.emplace_back(fa.Data(), fa.Data() + fa.ElementLength());
    t.kind = TensorSourceKind::f32;
    t.f32 = job->f32_store.back().data();
    t.f32_count = fa.ElementLength();
  } else if (kind == "raw") {
    Napi::Value data = src.Get("data");
    if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      *err = w + ".source.data must be a Uint8Array";
      return false;
    }
    Napi::Uint8Array ua = data.As<Napi::Uint8Array>();
    job->raw_store.emplace_back(ua.Data(), ua.Data() + ua.ElementLength());
    t.kind = TensorSourceKind::raw;
    t.raw = job->raw_store.back().data();
    t.raw_size = ua.ElementLength();
  } else if (kind == "random") {
    RandomSpec spec;
    Napi::Value seed = src.Get("seed");
    if (seed.IsBigInt()) {
      bool lossless = false;
      spec.seed = seed.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) {
        *err = w + ".source.seed bigint must fit in 64 bits unsigned";
        return false;
      }
    } else {
      const double s = seed.IsNumber() ? seed.As<Napi::Number>().DoubleValue() : -1;
      if (!(s >= 0 && s <= kMaxSafeInteger && s == std::trunc(s))) {
        *err = w + ".source.seed must be a non-negative safe integer (or a bigint)";
        return false;
      }
      spec.seed = static_cast<uint64_t>(s);
    }
    if (!number_field(src, "mean", w + ".source", &spec.mean, err)) return false;
    if (!number_field(src, "std", w + ".source", &spec.std, err)) return false;
    Napi::Value tr = src.Get("transform");
    if (tr.IsString() && tr.As<Napi::String>().Utf8Value() == "neg_exp") {
      spec.transform = RandomTransform::neg_exp;
    } else if (!tr.IsUndefined()) {
      *err = w + ".source.transform must be 'neg_exp' or absent";
      return false;
    }
    t.kind = TensorSourceKind::generated;
    t.generate = random_values(spec);
  } else {
    *err = w + ".source.kind must be 'f32', 'raw' or 'random'";
    return false;
  }
  job->writer->add_tensor(std::move(t));
  return true;
}

// The whole spec; false with *err on the first problem.
bool parse_spec(Napi::Value spec_v, WriteJob* job, std::string* err) {
  if (!spec_v.IsObject()) {
    *err = "spec must be an object";
    return false;
  }
  Napi::Object spec = spec_v.As<Napi::Object>();
  GgufWriteOptions options;
  Napi::Value align = spec.Get("alignment");
  if (!align.IsUndefined()) {
    const double a = align.IsNumber() ? align.As<Napi::Number>().DoubleValue() : -1;
    if (!(a >= 1 && a <= 2147483648.0 && a == std::trunc(a)) || (static_cast<uint64_t>(a) & (static_cast<uint64_t>(a) - 1))) {
      *err = "spec.alignment must be a power of two (1 to 2^31)";
      return false;
    }
    options.alignment = static_cast<uint32_t>(a);
  }
  job->writer = std::make_unique<GgufWriter>(options);
  Napi::Value md = spec.Get("metadata");
  if (!md.IsArray()) {
    *err = "spec.metadata must be an array";
    return false;
  }
  Napi::Array ma = md.As<Napi::Array>();
  for (uint32_t i = 0; i < ma.Length(); ++i) {
    std::string where = "spec.metadata[" + std::to_string(i) + "]";
    Napi::Value kv_v = ma.Get(i);
    if (!kv_v.IsObject()) {
      *err = where + " must be an object {key, type, value}";
      return false;
    }
    Napi::Object kv = kv_v.As<Napi::Object>();
    Napi::Value key = kv.Get("key");
    if (!key.IsString()) {
      *err = where + ".key must be a string";
      return false;
    }
    const std::string k = key.As<Napi::String>().Utf8Value();
    where += " (" + gguf_quote(k) + ")";
    Napi::Value type_v = kv.Get("type");
    GgufType type;
    if (!type_v.IsString() || !type_from_name(type_v.As<Napi::String>().Utf8Value(), &type)) {
      *err = where + ".type must be one of u8 i8 u16 i16 u32 i32 f32 bool str arr u64 i64 f64";
      return false;
    }
    GgufValue value;
    if (type == GgufType::ARRAY) {
      Napi::Value it = kv.Get("itemType");
      GgufType item;
      if (!it.IsString() || !type_from_name(it.As<Napi::String>().Utf8Value(), &item)) {
        *err = where + ".itemType must be set for an 'arr' value (u8 ... f64 or arr)";
        return false;
      }
      if (!js_to_array(kv.Get("value"), item, where + ".value", 1, &value, err)) return false;
    } else if (!js_to_scalar(kv.Get("value"), type, where + ".value", &value, err)) {
      return false;
    }
    job->writer->add_kv(k, std::move(value));
  }
  Napi::Value ts = spec.Get("tensors");
  if (!ts.IsArray()) {
    *err = "spec.tensors must be an array";
    return false;
  }
  Napi::Array ta = ts.As<Napi::Array>();
  job->f32_store.reserve(ta.Length());  // keep pointers into the stores stable
  job->raw_store.reserve(ta.Length());
  for (uint32_t i = 0; i < ta.Length(); ++i) {
    if (!parse_tensor(ta.Get(i), i, job, err)) return false;
  }
  return true;
}

struct Progress {
  double written;
  double total;
};

class WriteWorker : public Napi::AsyncProgressWorker<Progress> {
 public:
  WriteWorker(Napi::Env env, Napi::Promise::Deferred deferred, std::string path, WriteJob job, Napi::Function on_progress)
      : Napi::AsyncProgressWorker<Progress>(env, "petrel.writeGguf"),
        deferred_(deferred),
        path_(std::move(path)),
        job_(std::move(job)) {
    if (!on_progress.IsEmpty()) {
      on_progress_ = Napi::Persistent(on_progress);
      has_progress_ = true;
    }
    GgufWriteOptions& o = job_.writer->options();
    o.cancel = &cancel_;
    if (has_progress_) o.progress = [this](uint64_t w, uint64_t t) { report(w, t); };
  }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    progress_ = &progress;
    status_ = job_.writer->write(path_);
    progress_ = nullptr;
  }

  void OnProgress(const Progress* data, size_t count) override {
    if (!data || count == 0 || cancel_.load()) return;
    deliver(data->written, data->total);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (status_.ok() && callback_error_.IsEmpty() && has_progress_ && delivered_ < total_) deliver(total_, total_);
    if (!callback_error_.IsEmpty()) {
      deferred_.Reject(callback_error_.Value());
    } else if (!status_.ok()) {
      deferred_.Reject(status_error(env, status_).Value());
    } else {
      deferred_.Resolve(env.Undefined());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Worker thread: forward progress, at most ~every 1/256 of the file (plus the end).
  void report(uint64_t written, uint64_t total) {
    if (!progress_) return;
    if (written != total && written - last_sent_ < total / 256) return;
    last_sent_ = written;
    const Progress p{static_cast<double>(written), static_cast<double>(total)};
    progress_->Send(&p, 1);
  }

  // JS thread: call onProgress; if it throws, cancel the write and keep the error for the promise.
  void deliver(double written, double total) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    delivered_ = written;
    total_ = total;
    on_progress_.Call({Napi::Number::New(env, written), Napi::Number::New(env, total)});
    if (env.IsExceptionPending()) {
      callback_error_ = env.GetAndClearPendingException();
      cancel_.store(true);
    }
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  WriteJob job_;
  Napi::FunctionReference on_progress_;
  bool has_progress_ = false;
  std::atomic<bool> cancel_{false};
  const ExecutionProgress* progress_ = nullptr;
  uint64_t last_sent_ = 0;
  double delivered_ = -1;
  double total_ = 0;
  Status status_;
  Napi::Error callback_error_;
};

// The optional third argument of writeGguf and writeGgufFromRecipe: false when it is given and
// is not a function.
bool optional_progress(const Napi::CallbackInfo& info, Napi::Function* out) {
  if (info.Length() < 3 || info[2].IsUndefined() || info[2].IsNull()) return true;
  if (!info[2].IsFunction()) return false;
  *out = info[2].As<Napi::Function>();
  return true;
}

Napi::Value write_gguf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto reject = [&](const Status& st) {
    deferred.Reject(status_error(env, st).Value());
    return deferred.Promise();
  };
  if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty()) {
    return reject(Status(StatusCode::invalid_argument, "writeGguf(path, spec): path must be a non-empty string"));
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Function on_progress;
  if (!optional_progress(info, &on_progress)) {
    return reject(Status(StatusCode::invalid_argument, "writeGguf(path, spec, onProgress): onProgress must be a function"));
  }
  WriteJob job;
  std::string err;
  const bool parsed = parse_spec(info.Length() >= 2 ? info[1] : env.Undefined(), &job, &err);
  // A getter on the spec may have thrown: pass that on as the rejection.
  if (env.IsExceptionPending()) {
    deferred.Reject(env.GetAndClearPendingException().Value());
    return deferred.Promise();
  }
  if (!parsed) return reject(Status(StatusCode::invalid_argument, "writeGguf: " + err));
  const Status st = job.writer->validate();
  if (!st.ok()) return reject(Status(st.code(), "writeGguf: " + st.message()));
  auto* worker = new WriteWorker(env, deferred, path, std::move(job), on_progress);
  worker->Queue();
  return deferred.Promise();
}

// writeGgufFromRecipe(path, recipePath, onProgress?): the model a synth recipe describes
// (synth/recipe.h), written as writeGguf writes a spec.
Napi::Value write_gguf_from_recipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto reject = [&](const Status& st) {
    deferred.Reject(status_error(env, st).Value());
    return deferred.Promise();
  };
  for (size_t i = 0; i < 2; ++i) {
    if (info.Length() <= i || !info[i].IsString() || info[i].As<Napi::String>().Utf8Value().empty()) {
      return reject(Status(StatusCode::invalid_argument,
                           "writeGgufFromRecipe(path, recipePath): both paths must be non-empty strings"));
    }
  }
  Napi::Function on_progress;
  if (!optional_progress(info, &on_progress)) {
    return reject(Status(StatusCode::invalid_argument, "writeGgufFromRecipe: onProgress must be a function"));
  }
  WriteJob job;
  job.writer = std::make_unique<GgufWriter>();
  const Status st = load_recipe(info[1].As<Napi::String>().Utf8Value(), job.writer.get());
  if (!st.ok()) return reject(st);
  auto* worker = new WriteWorker(env, deferred, info[0].As<Napi::String>().Utf8Value(), std::move(job), on_progress);
  worker->Queue();
  return deferred.Promise();
}

}  // namespace

void init_writer(Napi::Env env, Napi::Object exports) {
  exports.Set("writeGguf", Napi::Function::New(env, write_gguf, "writeGguf"));
  exports.Set("writeGgufFromRecipe", Napi::Function::New(env, write_gguf_from_recipe, "writeGgufFromRecipe"));
}

}  // namespace petrel::addon
