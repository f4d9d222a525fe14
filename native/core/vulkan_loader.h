// Finds and loads the optional Vulkan backend library (libpetrel_vulkan.so, see core/vulkan_api.h)
// at run time (core/backend_library.h). A missing library, Vulkan loader or device all mean
// "Vulkan not available": never an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace petrel {

struct VulkanProbe {
  bool library_loaded = false;
  std::string library_path;
  std::string reason;                     // why Vulkan is not available (empty when it is)
  std::vector<std::string> device_names;  // one per compute device
  std::vector<bool> device_is_gpu;        // per device: a GPU, not a software device (lavapipe)
};

// Loads and probes once (thread-safe); later calls return the same result.
const VulkanProbe& vulkan_probe();

// True when the library loaded and found at least one device.
bool vulkan_available();

// A Vulkan device as the library made it (petrel_vulkan_backend_create in core/vulkan_api.h).
struct VulkanBackendHandle {
  void* backend = nullptr;  // a petrel::Backend* (backend/backend.h) the caller owns; null on failure
  bool is_gpu = false;
  uint64_t memory_bytes = 0;  // the device's largest device-local heap
  std::string error;          // why there is none
};

// Creates the Vulkan backend through the library (core stays below the backends, so the
// backend comes back untyped; the engine, above both, owns it as a Backend).
VulkanBackendHandle vulkan_create_backend();

}  // namespace petrel
