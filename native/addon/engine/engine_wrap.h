// Declarations shared by the engine's Node-API wrappers: engine_wrap.cpp (loadModel, NativeModel)
// and session_wrap.cpp (NativeSession). See src/engine/native.ts for the JavaScript surface.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "addon/init.h"
#include "petrel/engine.h"

namespace petrel::addon::engine {

// Error codes of failures that are not a native Status.
inline constexpr const char* kErrBusy = "ERR_SESSION_BUSY";           // a call while an evaluation runs
inline constexpr const char* kErrDisposed = "ERR_DISPOSED";           // use after dispose()
inline constexpr const char* kErrContextLimit = "ERR_CONTEXT_LIMIT";  // evaluate past the context length
inline constexpr const char* kErrAborted = "ERR_ABORTED";             // evaluate stopped by cancel()
inline constexpr const char* kErrSnapshotModel = "ERR_SNAPSHOT_MODEL_MISMATCH";  // restore of another model's snapshot

inline Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// The NativeSession class (defined once per environment by init_engine).
Napi::Function define_session_class(Napi::Env env);
void set_session_constructor(Napi::FunctionReference* ctor);
// Wraps a session in a new NativeSession object (takes ownership); empty on a pending exception.
Napi::Value make_session_object(Napi::Env env, std::unique_ptr<Session> session);

}  // namespace petrel::addon::engine
