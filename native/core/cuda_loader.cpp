// dlopen()s libpetrel_cuda and resolves its C ABI (see cuda_loader.h). The library is never
// unloaded: the CUDA runtime inside it keeps threads and state for the life of the process.
#include "core/cuda_loader.h"

#include <string>

#include "core/backend_library.h"
#include "core/cuda_api.h"

namespace petrel {
namespace {

#if defined(__APPLE__)
constexpr const char* kLibraryName = "libpetrel_cuda.dylib";
#else
constexpr const char* kLibraryName = "libpetrel_cuda.so";
#endif

struct CudaApi {
  int (*api_version)() = nullptr;
  int (*device_count)() = nullptr;
  int (*device_name)(int, char*, int) = nullptr;
  int (*dequantize_q8_0)(const void*, float*, long long) = nullptr;
};

struct Loaded {
  CudaProbe probe;
  CudaApi api;
};

Loaded load() {
  Loaded l;
  const BackendLibrary lib = open_backend_library(kLibraryName);
  if (lib.handle == nullptr) {
    l.probe.reason = lib.reason;
    return l;
  }
  void* handle = lib.handle;
  l.probe.library_path = lib.path;
  if (!resolve_symbol(handle, "petrel_cuda_api_version", &l.api.api_version) ||
      !resolve_symbol(handle, "petrel_cuda_device_count", &l.api.device_count) ||
      !resolve_symbol(handle, "petrel_cuda_device_name", &l.api.device_name) ||
      !resolve_symbol(handle, "petrel_cuda_dequantize_q8_0", &l.api.dequantize_q8_0)) {
    l.api = CudaApi();
    l.probe.reason = l.probe.library_path + " lacks the petrel CUDA entry points";
    return l;
  }
  if (l.api.api_version() != PETREL_CUDA_API_VERSION) {
    l.probe.reason = l.probe.library_path + " has API version " + std::to_string(l.api.api_version()) + ", expected " +
                     std::to_string(PETREL_CUDA_API_VERSION);
    l.api = CudaApi();
    return l;
  }
  l.probe.library_loaded = true;
  const int count = l.api.device_count();
  for (int i = 0; i < count; ++i) {
    char name[256] = {0};
    if (l.api.device_name(i, name, sizeof name) < 0) continue;
    l.probe.device_names.emplace_back(name);
  }
  if (l.probe.device_names.empty()) l.probe.reason = "no CUDA device found";
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

const CudaProbe& cuda_probe() { return loaded().probe; }

bool cuda_available() { return loaded().probe.library_loaded && !loaded().probe.device_names.empty(); }

Status cuda_dequantize_q8_0(const void* src, float* dst, int64_t n) {
  if (!cuda_available()) return Status(StatusCode::unsupported, "CUDA is not available: " + cuda_probe().reason);
  const int rc = loaded().api.dequantize_q8_0(src, dst, static_cast<long long>(n));
  if (rc == PETREL_CUDA_E_INVALID_ARGUMENT) {
    return Status(StatusCode::invalid_argument, "cuda dequantize q8_0: n must be a whole number of 32-value blocks");
  }
  if (rc == -2) return Status(StatusCode::out_of_memory, "cuda dequantize q8_0: out of device memory");  // cudaErrorMemoryAllocation
  if (rc < 0) return Status(StatusCode::io_error, "cuda dequantize q8_0 failed (cudaError " + std::to_string(-rc) + ")");
  return Status::ok_status();
}

}  // namespace petrel
