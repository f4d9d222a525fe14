// Finds and loads the optional Vulkan backend library (libpetrel_vulkan.so, see core/vulkan_api.h)
// at run time (core/backend_library.h). A missing library, Vulkan loader or device all mean
// "Vulkan not available": never an error.
#pragma once

#include <string>
#include <vector>

namespace petrel {

struct VulkanProbe {
  bool library_loaded = false;
  std::string library_path;
  std::string reason;                     // why Vulkan is not available (empty when it is)
  std::vector<std::string> device_names;  // one per compute device
};

// Loads and probes once (thread-safe); later calls return the same result.
const VulkanProbe& vulkan_probe();

// True when the library loaded and found at least one device.
bool vulkan_available();

}  // namespace petrel
