// Declarations shared by the addon's wrapper files.
#pragma once

#include <napi.h>

#include "petrel/status.h"

namespace petrel::addon {

void init_system(Napi::Env env, Napi::Object exports);
void init_formats(Napi::Env env, Napi::Object exports);
void init_gguf(Napi::Env env, Napi::Object exports);
void init_writer(Napi::Env env, Napi::Object exports);
void init_engine(Napi::Env env, Napi::Object exports);
void init_quantize(Napi::Env env, Napi::Object exports);

// Builds a JS Error carrying the Status message and its stable code (err.code).
inline Napi::Error status_error(Napi::Env env, const Status& st) {
  Napi::Error err = Napi::Error::New(env, st.message());
  err.Set("code", Napi::String::New(env, status_code_name(st.code())));
  return err;
}

// Throws a JS Error for `st` (exceptions are disabled: the caller must return right after).
inline void throw_status(Napi::Env env, const Status& st) { status_error(env, st).ThrowAsJavaScriptException(); }

inline void throw_invalid(Napi::Env env, const std::string& message) {
  throw_status(env, Status(StatusCode::invalid_argument, message));
}

}  // namespace petrel::addon
