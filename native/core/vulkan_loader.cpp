#include "core/vulkan_loader.h"

#include "core/backend_library.h"
#include "core/vulkan_api.h"

namespace petrel {
namespace {

#if defined(__APPLE__)
constexpr const char* kLibraryName = "libpetrel_vulkan.dylib";
#else
constexpr const char* kLibraryName = "libpetrel_vulkan.so";
#endif

using CreateBackendFn = int (*)(void**, int*, unsigned long long*, char*, int);

CreateBackendFn& create_backend() {
  static CreateBackendFn fn = nullptr;
  return fn;
}

VulkanProbe load() {
  VulkanProbe probe;
  const BackendLibrary lib = open_backend_library(kLibraryName);
  if (lib.handle == nullptr) {
    probe.reason = lib.reason;
    return probe;
  }
  probe.library_path = lib.path;
  int (*api_version)() = nullptr;
  int (*device_count)() = nullptr;
  int (*device_name)(int, char*, int) = nullptr;
  int (*device_is_gpu)(int) = nullptr;
  if (!resolve_symbol(lib.handle, "petrel_vulkan_api_version", &api_version) ||
      !resolve_symbol(lib.handle, "petrel_vulkan_device_count", &device_count) ||
      !resolve_symbol(lib.handle, "petrel_vulkan_device_name", &device_name) ||
      !resolve_symbol(lib.handle, "petrel_vulkan_device_is_gpu", &device_is_gpu) ||
      !resolve_symbol(lib.handle, "petrel_vulkan_backend_create", &create_backend())) {
    probe.reason = lib.path + " lacks the petrel Vulkan entry points";
    return probe;
  }
  if (api_version() != PETREL_VULKAN_API_VERSION) {
    probe.reason = lib.path + " has API version " + std::to_string(api_version()) + ", expected " +
                   std::to_string(PETREL_VULKAN_API_VERSION);
    return probe;
  }
  probe.library_loaded = true;
  const int count = device_count();
  for (int i = 0; i < count; ++i) {
    char name[256] = {0};
    if (device_name(i, name, sizeof name) >= 0) {
      probe.device_names.emplace_back(name);
      probe.device_is_gpu.push_back(device_is_gpu(i) == 1);
    }
  }
  if (probe.device_names.empty()) probe.reason = "no Vulkan compute device found";
  return probe;
}

}  // namespace

const VulkanProbe& vulkan_probe() {
  static const VulkanProbe probe = load();
  return probe;
}

bool vulkan_available() { return vulkan_probe().library_loaded && !vulkan_probe().device_names.empty(); }

VulkanBackendHandle vulkan_create_backend() {
  VulkanBackendHandle h;
  const VulkanProbe& probe = vulkan_probe();
  if (!vulkan_available()) {
    h.error = "no Vulkan device: " + probe.reason;
    return h;
  }
  char error[512] = {0};
  int is_gpu = 0;
  unsigned long long bytes = 0;
  if (create_backend()(&h.backend, &is_gpu, &bytes, error, sizeof error) < 0 || h.backend == nullptr) {
    h.backend = nullptr;
    h.error = error[0] != '\0' ? error : "the Vulkan backend could not be created";
    return h;
  }
  h.is_gpu = is_gpu != 0;
  h.memory_bytes = bytes;
  return h;
}

}  // namespace petrel
