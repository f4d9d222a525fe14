// openGguf(path) -> GgufHandle (NativeGguf in src/engine/native.ts): metadata and tensor lists
// converted to JavaScript, zero-copy tensorData() views into the memory map, and dequantize().
// Lifetimes: each tensorData ArrayBuffer holds a shared_ptr to its file's mapping (the finalizer
// hint), so close() only drops the handle's own reference and earlier buffers stay valid.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "addon/init.h"
#include "gguf/model_files.h"
#include "quant/convert.h"

namespace petrel::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

Napi::Value uint64_to_js(Napi::Env env, uint64_t v) {
  if (v <= static_cast<uint64_t>(kMaxSafeInteger)) return Napi::Number::New(env, static_cast<double>(v));
  return Napi::BigInt::New(env, v);
}

Napi::Value int64_to_js(Napi::Env env, int64_t v) {
  if (v <= static_cast<int64_t>(kMaxSafeInteger) && v >= -static_cast<int64_t>(kMaxSafeInteger)) {
    return Napi::Number::New(env, static_cast<double>(v));
  }
  return Napi::BigInt::New(env, v);
}

// A scalar (or string) as a JavaScript value.
Napi::Value scalar_to_js(Napi::Env env, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::STRING: return Napi::String::New(env, *v.as_string());
    case GgufType::BOOL: return Napi::Boolean::New(env, *v.to_bool());
    case GgufType::FLOAT32: case GgufType::FLOAT64: return Napi::Number::New(env, *v.to_double());
    case GgufType::UINT64: return uint64_to_js(env, v.bits());
    case GgufType::INT64: return int64_to_js(env, *v.to_int());
    default: return Napi::Number::New(env, static_cast<double>(*v.to_int()));
  }
}

// An array's items: scalars, or GgufArray objects ({itemType, value}) for arrays of arrays.
Napi::Value array_items_to_js(Napi::Env env, const GgufValue& v) {
  const size_t n = static_cast<size_t>(v.size());
  Napi::Array out = Napi::Array::New(env, n);
  if (v.item_type() == GgufType::ARRAY) {
    for (size_t i = 0; i < n; ++i) {
      const GgufValue& inner = v.array_items()[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("itemType", gguf_type_name(inner.item_type()));
      o.Set("value", array_items_to_js(env, inner));
      out.Set(static_cast<uint32_t>(i), o);
    }
  } else if (v.item_type() == GgufType::STRING) {
    for (size_t i = 0; i < n; ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, v.string_items()[i]));
  } else {
    for (size_t i = 0; i < n; ++i) out.Set(static_cast<uint32_t>(i), scalar_to_js(env, v.item(i)));
  }
  return out;
}

class GgufHandle : public Napi::ObjectWrap<GgufHandle> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "GgufHandle",
                       {
                           InstanceAccessor("version", &GgufHandle::version, nullptr, napi_enumerable),
                           InstanceAccessor("alignment", &GgufHandle::alignment, nullptr, napi_enumerable),
                           InstanceAccessor("paths", &GgufHandle::paths, nullptr, napi_enumerable),
                           InstanceMethod("metadata", &GgufHandle::metadata),
                           InstanceMethod("tensors", &GgufHandle::tensors),
                           InstanceMethod("tensorData", &GgufHandle::tensor_data),
                           InstanceMethod("dequantize", &GgufHandle::dequantize),
                           InstanceMethod("close", &GgufHandle::close),
                       });
  }

  // openGguf hands the opened model over through this slot (per JS thread), so that calling the
  // class from JavaScript (handle.constructor) cannot make a handle around anything else.
  static inline thread_local GgufModel* pending = nullptr;

  explicit GgufHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GgufHandle>(info) {
    if (!pending) {
      throw_invalid(info.Env(), "GgufHandle cannot be constructed directly; use openGguf(path)");
      return;
    }
    model_.reset(pending);
    pending = nullptr;
    version_ = model_->version();
    alignment_ = model_->alignment();
    paths_ = model_->paths();
  }

 private:
  Napi::Value version(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), version_); }
  Napi::Value alignment(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), alignment_); }
  Napi::Value paths(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), paths_.size());
    for (size_t i = 0; i < paths_.size(); ++i) a.Set(static_cast<uint32_t>(i), paths_[i]);
    return a;
  }

  // Throws (and returns false) when the handle was closed.
  bool check_open(Napi::Env env, const char* method) {
    if (model_) return true;
    throw_invalid(env, gguf_printable(paths_.empty() ? std::string() : paths_[0]) + ": " + method +
                           "() called after close()");
    return false;
  }

  // The named tensor, or throws.
  const GgufTensorInfo* tensor_arg(const Napi::CallbackInfo& info, const char* method) {
    Napi::Env env = info.Env();
    if (!check_open(env, method)) return nullptr;
    if (info.Length() < 1 || !info[0].IsString()) {
      throw_invalid(env, std::string(method) + "(name): name must be a string");
      return nullptr;
    }
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const GgufTensorInfo* t = model_->find_tensor(name);
    if (!t) throw_invalid(env, gguf_printable(paths_[0]) + ": no tensor named " + gguf_quote(name));
    return t;
  }

  Napi::Value metadata(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!check_open(env, "metadata")) return env.Undefined();
    const auto& kvs = model_->kvs();
    Napi::Array out = Napi::Array::New(env, kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      const GgufValue& v = kvs[i].value;
      Napi::Object o = Napi::Object::New(env);
      o.Set("key", Napi::String::New(env, kvs[i].key));
      o.Set("type", gguf_type_name(v.type()));
      if (v.is_array()) {
        o.Set("itemType", gguf_type_name(v.item_type()));
        o.Set("value", array_items_to_js(env, v));
      } else {
        o.Set("value", scalar_to_js(env, v));
      }
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value tensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!check_open(env, "tensors")) return env.Undefined();
    const auto& ts = model_->tensors();
    Napi::Array out = Napi::Array::New(env, ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      const GgufTensorInfo& t = ts[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, t.name));
      o.Set("type", Napi::Number::New(env, t.type_id));
      o.Set("typeName", t.type->name);
      Napi::Array shape = Napi::Array::New(env, t.n_dims);
      for (uint32_t d = 0; d < t.n_dims; ++d) shape.Set(d, Napi::Number::New(env, static_cast<double>(t.ne[d])));
      o.Set("shape", shape);
      o.Set("nElements", Napi::Number::New(env, static_cast<double>(t.n_elements)));
      o.Set("size", Napi::Number::New(env, static_cast<double>(t.size)));
      o.Set("split", Napi::Number::New(env, t.split));
      o.Set("fileOffset", Napi::Number::New(env, static_cast<double>(t.file_offset)));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

  Napi::Value tensor_data(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const GgufTensorInfo* t = tensor_arg(info, "tensorData");
    if (!t) return env.Undefined();
    const std::shared_ptr<GgufMapping>& mapping = model_->mapping(t->split);
    // JavaScript may write into the buffer; give it copy-on-write pages instead of a crash.
    const Status st = mapping->make_private_writable(t->file_offset, t->size);
    if (!st.ok()) {
      throw_status(env, Status(st.code(), gguf_printable(paths_[t->split]) + ": tensor " + gguf_quote(t->name) + ": " +
                                              st.message()));
      return env.Undefined();
    }
    auto* keep = new std::shared_ptr<GgufMapping>(mapping);
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
        env, const_cast<uint8_t*>(t->data), static_cast<size_t>(t->size),
        [](Napi::Env, void*, std::shared_ptr<GgufMapping>* hint) { delete hint; }, keep);
    if (env.IsExceptionPending()) {
      delete keep;
      return env.Undefined();
    }
    return buf;
  }

  Napi::Value dequantize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const GgufTensorInfo* t = tensor_arg(info, "dequantize");
    if (!t) return env.Undefined();
    const std::string what = gguf_printable(paths_[t->split]) + ": tensor " + gguf_quote(t->name);
    if (!can_dequantize(t->type->type)) {
      throw_status(env, Status(StatusCode::unsupported, what + " has type " + t->type->name +
                                                            ", which petrel cannot convert to f32"));
      return env.Undefined();
    }
    Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(t->n_elements));
    if (env.IsExceptionPending()) return env.Undefined();
    const Status st = dequantize_row(t->type->type, t->data, out.Data(), static_cast<int64_t>(t->n_elements));
    if (!st.ok()) {
      throw_status(env, Status(st.code(), what + ": " + st.message()));
      return env.Undefined();
    }
    return out;
  }

  Napi::Value close(const Napi::CallbackInfo& info) {
    model_.reset();  // tensorData buffers keep their mappings alive
    return info.Env().Undefined();
  }

  std::unique_ptr<GgufModel> model_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 0;
  std::vector<std::string> paths_;
};

Napi::Value open_gguf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
  if (info.Length() < 1 || !info[0].IsString()) {
    throw_invalid(env, "openGguf(path): path must be a string");
    return env.Undefined();
  }
  std::unique_ptr<GgufModel> model;
  const Status st = GgufModel::open(info[0].As<Napi::String>().Utf8Value(), &model);
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  GgufHandle::pending = model.release();
  Napi::Object handle = ctor->New({});
  if (GgufHandle::pending) {  // the constructor did not run
    delete GgufHandle::pending;
    GgufHandle::pending = nullptr;
  }
  if (env.IsExceptionPending()) return env.Undefined();
  return handle;
}

}  // namespace

void init_gguf(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = GgufHandle::define(env);
  if (env.IsExceptionPending()) return;
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(cls));
  env.AddCleanupHook([ctor] { delete ctor; });
  exports.Set("openGguf", Napi::Function::New(env, open_gguf, "openGguf", ctor));
}

}  // namespace petrel::addon
