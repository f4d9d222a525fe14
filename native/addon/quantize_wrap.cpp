// quantizeGguf(input, output, options, onProgress?) -> Promise<summary>, quantTypes(), quantizeRows().
// options: {type: string, threads?: number, imatrix?: string, force?: boolean, dryRun?: boolean,
//           convert?: ConvertPlan (src/quantize/native.ts): a Hugging Face checkpoint instead of input}.
// The work runs in an AsyncProgressWorker (quantize/quantize_model.h); progress reaches
// onProgress({doneBytes, totalBytes, tensorIndex, nTensors}) on the JS thread, coalesced. If
// onProgress throws, the run is cancelled (temporary file removed) and the promise rejects with it.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "addon/init.h"
#include "quant/quantize_rows.h"
#include "quantize/ftype.h"
#include "quantize/quantize_model.h"

namespace petrel::addon {
namespace {

Napi::Object summary_to_js(Napi::Env env, const QuantizeSummary& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ftype", s.ftype);
  o.Set("inputFileBytes", static_cast<double>(s.input_file_bytes));
  o.Set("outputFileBytes", static_cast<double>(s.output_file_bytes));
  o.Set("nElements", static_cast<double>(s.n_elements));
  o.Set("tensorBytesIn", static_cast<double>(s.tensor_bytes_in));
  o.Set("tensorBytesOut", static_cast<double>(s.tensor_bytes_out));
  o.Set("imatrixEntries", s.imatrix_entries);
  o.Set("threads", s.threads);
  Napi::Array ts = Napi::Array::New(env, s.tensors.size());
  for (size_t i = 0; i < s.tensors.size(); ++i) {
    const QuantizedTensor& t = s.tensors[i];
    Napi::Object j = Napi::Object::New(env);
    j.Set("name", t.name);
    Napi::Array shape = Napi::Array::New(env, t.shape.size());
    for (size_t d = 0; d < t.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(t.shape[d]));
    j.Set("shape", shape);
    j.Set("from", static_cast<uint32_t>(t.from));
    j.Set("to", static_cast<uint32_t>(t.to));
    j.Set("fromName", ggml_type_info(static_cast<uint32_t>(t.from))->name);
    j.Set("toName", ggml_type_info(static_cast<uint32_t>(t.to))->name);
    j.Set("fallback", t.fallback);
    j.Set("withImatrix", t.with_imatrix);
    j.Set("nElements", static_cast<double>(t.n_elements));
    j.Set("bytesIn", static_cast<double>(t.bytes_in));
    j.Set("bytesOut", static_cast<double>(t.bytes_out));
    ts.Set(static_cast<uint32_t>(i), j);
  }
  o.Set("tensors", ts);
  return o;
}

bool dtype_from_name(const std::string& s, GgmlType* out) {
  if (s == "F32") *out = GgmlType::F32;
  else if (s == "F16") *out = GgmlType::F16;
  else if (s == "BF16") *out = GgmlType::BF16;
  else return false;
  return true;
}

bool whole(Napi::Value v, double max, double* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max && d == std::trunc(d))) return false;
  *out = d;
  return true;
}

// options.convert -> ConvertPlan; an empty string on success, else what is wrong.
std::string parse_convert_plan(Napi::Object c, ConvertPlan* plan) {
  constexpr double kMaxOffset = 9007199254740991.0;
  Napi::Value metadata = c.Get("metadata");
  if (!metadata.IsString()) return "convert.metadata must be a string";
  plan->metadata = metadata.As<Napi::String>().Utf8Value();
  Napi::Value files = c.Get("files");
  if (!files.IsArray()) return "convert.files must be an array of strings";
  Napi::Array fa = files.As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); ++i) {
    Napi::Value f = fa.Get(i);
    if (!f.IsString()) return "convert.files must be an array of strings";
    plan->files.push_back(f.As<Napi::String>().Utf8Value());
  }
  Napi::Value tensors = c.Get("tensors");
  if (!tensors.IsArray()) return "convert.tensors must be an array";
  Napi::Array ta = tensors.As<Napi::Array>();
  for (uint32_t i = 0; i < ta.Length(); ++i) {
    const std::string where = "convert.tensors[" + std::to_string(i) + "]";
    if (!ta.Get(i).IsObject()) return where + " must be an object";
    Napi::Object o = ta.Get(i).As<Napi::Object>();
    ConvertTensor t;
    if (!o.Get("name").IsString()) return where + ".name must be a string";
    t.name = o.Get("name").As<Napi::String>().Utf8Value();
    if (!o.Get("shape").IsArray()) return where + ".shape must be an array";
    Napi::Array shape = o.Get("shape").As<Napi::Array>();
    if (shape.Length() < 1 || shape.Length() > 4) return where + ".shape must have 1 to 4 dimensions";
    t.n_dims = shape.Length();
    for (uint32_t d = 0; d < shape.Length(); ++d) {
      double v;
      if (!whole(shape.Get(d), 1e15, &v) || v < 1) return where + ".shape must hold positive whole numbers";
      t.ne[d] = static_cast<int64_t>(v);
    }
    double type;
    if (!whole(o.Get("type"), 1e6, &type) || !ggml_type_info(static_cast<uint32_t>(type))) return where + ".type must be a ggml type id";
    t.type = static_cast<GgmlType>(static_cast<uint32_t>(type));
    const std::string op = o.Get("op").IsString() ? o.Get("op").As<Napi::String>().Utf8Value() : "none";
    if (op == "none") t.op = ConvertOp::none;
    else if (op == "add_one") t.op = ConvertOp::add_one;
    else if (op == "neg_exp") t.op = ConvertOp::neg_exp;
    else return where + ".op must be none, add_one or neg_exp";
    if (!o.Get("parts").IsArray()) return where + ".parts must be an array";
    Napi::Array parts = o.Get("parts").As<Napi::Array>();
    for (uint32_t k = 0; k < parts.Length(); ++k) {
      if (!parts.Get(k).IsObject()) return where + ".parts must hold objects";
      Napi::Object po = parts.Get(k).As<Napi::Object>();
      SafetensorsPart p;
      double file, offset, rows;
      if (!whole(po.Get("file"), static_cast<double>(plan->files.size()) - 1, &file)) return where + ".parts: bad file index";
      if (!whole(po.Get("offset"), kMaxOffset, &offset) || !whole(po.Get("rows"), kMaxOffset, &rows)) {
        return where + ".parts: offset and rows must be whole numbers";
      }
      if (!po.Get("dtype").IsString() || !dtype_from_name(po.Get("dtype").As<Napi::String>().Utf8Value(), &p.dtype)) {
        return where + ".parts: dtype must be F32, F16 or BF16";
      }
      p.file = static_cast<uint32_t>(file);
      p.offset = static_cast<uint64_t>(offset);
      p.rows = static_cast<uint64_t>(rows);
      t.parts.push_back(p);
    }
    Napi::Value perm = o.Get("colPerm");
    if (!perm.IsUndefined()) {
      double block;
      if (!perm.IsArray() || !whole(o.Get("colBlock"), 1e9, &block) || block < 1) return where + ": colPerm needs an array and colBlock";
      t.col_block = static_cast<uint32_t>(block);
      Napi::Array pa = perm.As<Napi::Array>();
      for (uint32_t k = 0; k < pa.Length(); ++k) {
        double v;
        if (!whole(pa.Get(k), 1e9, &v)) return where + ".colPerm must hold whole numbers";
        t.col_perm.push_back(static_cast<uint32_t>(v));
      }
    }
    plan->tensors.push_back(std::move(t));
  }
  return "";
}

class QuantizeWorker : public Napi::AsyncProgressWorker<QuantizeProgress> {
 public:
  QuantizeWorker(Napi::Env env, Napi::Promise::Deferred deferred, QuantizeOptions options, std::unique_ptr<ConvertPlan> plan,
                 Napi::Function on_progress)
      : Napi::AsyncProgressWorker<QuantizeProgress>(env, "petrel.quantizeGguf"),
        deferred_(deferred),
        options_(std::move(options)),
        plan_(std::move(plan)) {
    if (!on_progress.IsEmpty()) on_progress_ = Napi::Persistent(on_progress);
    options_.cancel = &cancel_;
    options_.convert = plan_.get();
  }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    if (!on_progress_.IsEmpty()) {
      // At most ~20 reports a second, and always the last one.
      options_.progress = [&](const QuantizeProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        const bool last = p.tensor_index == p.n_tensors;
        if (!last && now - last_sent_ < std::chrono::milliseconds(50)) return;
        last_sent_ = now;
        progress.Send(&p, 1);
      };
    }
    status_ = quantize_gguf(options_, &summary_);
  }

  void OnProgress(const QuantizeProgress* p, size_t count) override {
    if (!p || count == 0 || cancel_.load() || on_progress_.IsEmpty()) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("doneBytes", static_cast<double>(p->done_bytes));
    o.Set("totalBytes", static_cast<double>(p->total_bytes));
    o.Set("tensorIndex", p->tensor_index);
    o.Set("nTensors", p->n_tensors);
    on_progress_.Call({o});
    if (env.IsExceptionPending()) {
      callback_error_ = env.GetAndClearPendingException();
      cancel_.store(true);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!callback_error_.IsEmpty()) {
      deferred_.Reject(callback_error_.Value());
    } else if (!status_.ok()) {
      deferred_.Reject(status_error(env, status_).Value());
    } else {
      deferred_.Resolve(summary_to_js(env, summary_));
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  QuantizeOptions options_;
  std::unique_ptr<ConvertPlan> plan_;
  Napi::FunctionReference on_progress_;
  std::atomic<bool> cancel_{false};
  std::chrono::steady_clock::time_point last_sent_{};
  Status status_;
  QuantizeSummary summary_;
  Napi::Error callback_error_;
};

Napi::Value quantize_gguf_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto reject = [&](const std::string& m) {
    deferred.Reject(status_error(env, Status(StatusCode::invalid_argument, "quantizeGguf: " + m)).Value());
    return deferred.Promise();
  };
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsObject()) {
    return reject("expected (input: string, output: string, options: object, onProgress?)");
  }
  QuantizeOptions o;
  o.input = info[0].As<Napi::String>().Utf8Value();
  o.output = info[1].As<Napi::String>().Utf8Value();
  Napi::Object opts = info[2].As<Napi::Object>();
  Napi::Value type = opts.Get("type");
  if (!type.IsString()) return reject("options.type must be a string");
  o.type = type.As<Napi::String>().Utf8Value();
  Napi::Value threads = opts.Get("threads");
  if (!threads.IsUndefined()) {
    const double t = threads.IsNumber() ? threads.As<Napi::Number>().DoubleValue() : -1;
    if (!(t >= 0 && t <= 1024 && t == std::trunc(t))) return reject("options.threads must be a whole number from 0 to 1024");
    o.threads = static_cast<unsigned>(t);
  }
  Napi::Value imatrix = opts.Get("imatrix");
  if (!imatrix.IsUndefined()) {
    if (!imatrix.IsString()) return reject("options.imatrix must be a string");
    o.imatrix = imatrix.As<Napi::String>().Utf8Value();
  }
  o.force = opts.Get("force").ToBoolean().Value();
  o.dry_run = opts.Get("dryRun").ToBoolean().Value();
  Napi::Value assume_free = opts.Get("assumeFreeBytes");
  if (!assume_free.IsUndefined()) {
    const double f = assume_free.IsNumber() ? assume_free.As<Napi::Number>().DoubleValue() : -1;
    if (!(f >= 0 && f <= 9007199254740991.0 && f == std::trunc(f))) return reject("options.assumeFreeBytes must be a whole number");
    o.assume_free_bytes = static_cast<uint64_t>(f);
  }
  std::unique_ptr<ConvertPlan> plan;
  Napi::Value convert = opts.Get("convert");
  if (!convert.IsUndefined()) {
    if (!convert.IsObject()) return reject("options.convert must be an object");
    plan = std::make_unique<ConvertPlan>();
    const std::string err = parse_convert_plan(convert.As<Napi::Object>(), plan.get());
    if (!err.empty()) return reject(err);
  }
  if (env.IsExceptionPending()) {
    deferred.Reject(env.GetAndClearPendingException().Value());
    return deferred.Promise();
  }
  Napi::Function on_progress;
  if (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsNull()) {
    if (!info[3].IsFunction()) return reject("onProgress must be a function");
    on_progress = info[3].As<Napi::Function>();
  }
  auto* worker = new QuantizeWorker(env, deferred, std::move(o), std::move(plan), on_progress);
  worker->Queue();
  return deferred.Promise();
}

Napi::Value quant_types_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = 0;
  const QuantType* table = quant_type_table(&n);
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", table[i].name);
    o.Set("ftype", static_cast<uint32_t>(table[i].ftype));
    o.Set("defaultType", static_cast<uint32_t>(table[i].default_type));
    o.Set("description", table[i].description);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

// quantizeRows(typeId, src: Float32Array, nPerRow, imatrix?: Float32Array) -> Uint8Array: the bytes
// ggml_quantize_chunk gives for these rows (tests compare the two).
Napi::Value quantize_rows_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& m) {
    throw_invalid(env, "quantizeRows: " + m);
    return env.Undefined();
  };
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    return fail("expected (typeId, src: Float32Array, nPerRow, imatrix?)");
  }
  const GgmlTypeInfo* type = ggml_type_info(info[0].As<Napi::Number>().Uint32Value());
  if (!type) return fail("unknown type");
  if (info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) return fail("src must be a Float32Array");
  Napi::Float32Array src = info[1].As<Napi::Float32Array>();
  const double npr = info[2].As<Napi::Number>().DoubleValue();
  if (!(npr >= 1 && npr <= 1e9 && npr == std::trunc(npr))) return fail("nPerRow must be a positive whole number");
  const int64_t n_per_row = static_cast<int64_t>(npr);
  if (static_cast<int64_t>(src.ElementLength()) % n_per_row != 0 || n_per_row % type->block_size != 0) {
    return fail("src length must be whole rows of whole blocks");
  }
  const float* imatrix = nullptr;
  if (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsNull()) {
    if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        static_cast<int64_t>(info[3].As<Napi::Float32Array>().ElementLength()) != n_per_row) {
      return fail("imatrix must be a Float32Array of nPerRow values");
    }
    imatrix = info[3].As<Napi::Float32Array>().Data();
  }
  const int64_t nrows = static_cast<int64_t>(src.ElementLength()) / n_per_row;
  const size_t bytes = static_cast<size_t>(nrows * (n_per_row / type->block_size) * type->type_size);
  std::vector<uint64_t> out((bytes + 7) / 8);
  std::vector<float> in(src.Data(), src.Data() + src.ElementLength());
  const Status st = quantize_rows(type->type, in.data(), out.data(), nrows, n_per_row, imatrix);
  if (!st.ok()) {
    throw_status(env, st);
    return env.Undefined();
  }
  Napi::Uint8Array result = Napi::Uint8Array::New(env, bytes);
  std::memcpy(result.Data(), out.data(), bytes);
  return result;
}

}  // namespace

void init_quantize(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeGguf", Napi::Function::New(env, quantize_gguf_js, "quantizeGguf"));
  exports.Set("quantTypes", Napi::Function::New(env, quant_types_js, "quantTypes"));
  exports.Set("quantizeRows", Napi::Function::New(env, quantize_rows_js, "quantizeRows"));
}

}  // namespace petrel::addon
