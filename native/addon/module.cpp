// Node-API registration: every wrapper file exports one init function, called here in order.
// C++ exceptions are disabled for the addon; failures arrive as JS errors through throw_status().
#include <napi.h>

#include "addon/init.h"

namespace petrel::addon {

Napi::Object init_module(Napi::Env env, Napi::Object exports) {
  init_system(env, exports);   // system_wrap.cpp: version info, CPU features, backends
  init_formats(env, exports);  // formats_wrap.cpp: type table, dequantize/quantize
  init_gguf(env, exports);     // gguf_wrap.cpp: openGguf -> GgufHandle
  init_writer(env, exports);   // writer_wrap.cpp: writeGguf (async)
  init_engine(env, exports);   // engine/engine_wrap.cpp: loadModel -> Model, Session
  init_quantize(env, exports); // quantize_wrap.cpp: quantizeGguf (async), quantTypes
  return exports;
}

}  // namespace petrel::addon

// NODE_API_MODULE pastes onto the function name, so it needs an unqualified one.
static Napi::Object petrel_init(Napi::Env env, Napi::Object exports) {
  return petrel::addon::init_module(env, exports);
}

NODE_API_MODULE(petrel, petrel_init)
