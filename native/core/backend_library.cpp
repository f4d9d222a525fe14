#include "core/backend_library.h"

#include <unistd.h>

namespace petrel {
namespace {

// Directory of the shared object (or executable) this function was linked into.
std::string own_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr) return "";
  const std::string path = info.dli_fname;
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

}  // namespace

BackendLibrary open_backend_library(const char* file_name) {
  BackendLibrary lib;
  const std::string dir = own_directory();
  std::string tried, local_error;
  if (!dir.empty()) {
    const std::string local = dir + "/" + file_name;
    lib.handle = dlopen(local.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib.handle != nullptr) {
      lib.path = local;
      return lib;
    }
    tried = local;
    // The library is there but did not load (a missing dependency, such as the Vulkan loader):
    // that says more than the default path's "not found".
    const char* err = dlerror();
    if (err != nullptr && access(local.c_str(), F_OK) == 0) local_error = err;
  }
  lib.handle = dlopen(file_name, RTLD_NOW | RTLD_LOCAL);
  if (lib.handle != nullptr) {
    lib.path = file_name;
    return lib;
  }
  const char* err = dlerror();
  if (!local_error.empty()) {
    lib.reason = std::string(file_name) + " did not load: " + local_error;
  } else {
    lib.reason = std::string(file_name) + " not found" + (tried.empty() ? "" : " (tried " + tried + " and the library path)") +
                 (err ? std::string(": ") + err : "");
  }
  return lib;
}

}  // namespace petrel
