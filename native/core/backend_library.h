// Finding and opening an optional backend library (libpetrel_cuda, libpetrel_vulkan) at run time.
// Looked for next to the binary that contains petrel_core (the addon's directory, or the test
// executable's), then on the default library path. A library that is missing or cannot load
// (no driver, no Vulkan loader) is never an error: the backend is simply not available, and
// `reason` says why.
#pragma once

#include <dlfcn.h>

#include <string>

namespace petrel {

struct BackendLibrary {
  void* handle = nullptr;  // null when not loaded; never closed (backends keep threads and state)
  std::string path;        // where it was loaded from
  std::string reason;      // why it did not load (empty when it did)
};

BackendLibrary open_backend_library(const char* file_name);

// Looks up `name` in the library; false when it is missing.
template <typename Fn>
bool resolve_symbol(void* handle, const char* name, Fn* out) {
  void* sym = dlsym(handle, name);
  if (sym == nullptr) return false;
  *out = reinterpret_cast<Fn>(sym);
  return true;
}

}  // namespace petrel
