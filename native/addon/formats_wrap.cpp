// typeTable(), dequantize(type, bytes, n) and quantize(type, floats): the tensor formats as seen
// from JavaScript (NativeTypeInfo / NativeAddon in src/engine/native.ts). Arguments are checked
// here (ERR_INVALID_ARGUMENT for malformed ones, ERR_UNSUPPORTED for a type petrel cannot
// convert); the conversions themselves are quant/convert.h, i.e. the bit-exact references.
#include <cmath>
#include <string>

#include "addon/init.h"
#include "quant/convert.h"
#include "quant/ggml_type.h"

namespace petrel::addon {
namespace {

Napi::Value type_table(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t count = 0;
  const GgmlTypeInfo* types = ggml_type_table(&count);
  Napi::Array arr = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; ++i) {
    const GgmlTypeInfo& t = types[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<double>(static_cast<uint32_t>(t.type))));
    o.Set("name", Napi::String::New(env, t.name));
    o.Set("blockSize", Napi::Number::New(env, t.block_size));
    o.Set("typeSize", Napi::Number::New(env, t.type_size));
    o.Set("canDequantize", Napi::Boolean::New(env, can_dequantize(t.type)));
    o.Set("canQuantize", Napi::Boolean::New(env, can_quantize(t.type)));
    arr.Set(static_cast<uint32_t>(i), o);
  }
  return arr;
}

// A non-negative integer no larger than `max`, or an error message.
bool get_count(const Napi::Value& v, double max, int64_t* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > max || std::floor(d) != d) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// The ggml type named by argument 0, or nullptr after throwing.
const GgmlTypeInfo* get_type(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  int64_t id = 0;
  if (info.Length() < 1 || !get_count(info[0], 4294967295.0, &id)) {
    throw_invalid(env, std::string(fn) + ": type must be a ggml type id (a non-negative integer)");
    return nullptr;
  }
  const GgmlTypeInfo* t = ggml_type_info(static_cast<uint32_t>(id));
  if (t == nullptr) {
    throw_invalid(env, std::string(fn) + ": unknown ggml type id " + std::to_string(id));
    return nullptr;
  }
  return t;
}

Napi::Value dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GgmlTypeInfo* t = get_type(info, "dequantize");
  if (t == nullptr) return env.Undefined();
  if (!can_dequantize(t->type)) {
    throw_status(env, Status(StatusCode::unsupported, std::string("dequantize: petrel cannot convert ") + t->name + " to f32"));
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_invalid(env, "dequantize: data must be a Uint8Array");
    return env.Undefined();
  }
  int64_t n = 0;
  if (info.Length() < 3 || !get_count(info[2], 9007199254740991.0, &n)) {
    throw_invalid(env, "dequantize: n must be a non-negative integer element count");
    return env.Undefined();
  }
  uint64_t expected = 0;
  if (!ggml_row_bytes(*t, static_cast<uint64_t>(n), &expected)) {
    throw_invalid(env, "dequantize: " + std::to_string(n) + " elements is not a whole number of " + t->name + " blocks (" +
                           std::to_string(t->block_size) + ")");
    return env.Undefined();
  }
  Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
  if (data.ByteLength() != expected) {
    throw_invalid(env, "dequantize: " + std::to_string(n) + " " + t->name + " elements take " + std::to_string(expected) +
                           " bytes, got " + std::to_string(data.ByteLength()));
    return env.Undefined();
  }
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(n));
  if (env.IsExceptionPending()) return env.Undefined();  // e.g. RangeError: too large
  const Status st = dequantize_row(t->type, data.Data(), out.Data(), n);
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  return out;
}

Napi::Value quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GgmlTypeInfo* t = get_type(info, "quantize");
  if (t == nullptr) return env.Undefined();
  if (!can_quantize(t->type)) {
    throw_status(env, Status(StatusCode::unsupported, std::string("quantize: petrel has no quantizer for ") + t->name));
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_invalid(env, "quantize: data must be a Float32Array");
    return env.Undefined();
  }
  Napi::Float32Array data = info[1].As<Napi::Float32Array>();
  const int64_t n = static_cast<int64_t>(data.ElementLength());
  uint64_t bytes = 0;
  if (!ggml_row_bytes(*t, static_cast<uint64_t>(n), &bytes)) {
    throw_invalid(env, "quantize: " + std::to_string(n) + " values is not a whole number of " + t->name + " blocks (" +
                           std::to_string(t->block_size) + ")");
    return env.Undefined();
  }
  Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(bytes));
  if (env.IsExceptionPending()) return env.Undefined();
  const Status st = quantize_row(t->type, data.Data(), out.Data(), n);
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  return out;
}

}  // namespace

void init_formats(Napi::Env env, Napi::Object exports) {
  exports.Set("typeTable", Napi::Function::New(env, type_table, "typeTable"));
  exports.Set("dequantize", Napi::Function::New(env, dequantize, "dequantize"));
  exports.Set("quantize", Napi::Function::New(env, quantize, "quantize"));
}

}  // namespace petrel::addon
