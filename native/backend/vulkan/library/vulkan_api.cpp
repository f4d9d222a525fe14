// libpetrel_vulkan's C ABI (core/vulkan_api.h): what the addon asks of the library it loads.
#include "core/vulkan_api.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vulkan_backend.h"

namespace {

const std::vector<std::string>& devices() {
  static const std::vector<std::string> list = petrel::vk::list_devices();
  return list;
}

}  // namespace

extern "C" {

int petrel_vulkan_api_version(void) { return PETREL_VULKAN_API_VERSION; }

int petrel_vulkan_device_count(void) { return static_cast<int>(devices().size()); }

int petrel_vulkan_device_name(int i, char* buf, int len) {
  if (i < 0 || static_cast<size_t>(i) >= devices().size() || buf == nullptr || len <= 0) return -1;
  // list_devices() lines start "<index>: "; the index is the caller's own.
  const std::string& line = devices()[static_cast<size_t>(i)];
  const size_t colon = line.find(": ");
  const std::string name = colon == std::string::npos ? line : line.substr(colon + 2);
  std::strncpy(buf, name.c_str(), static_cast<size_t>(len) - 1);
  buf[len - 1] = '\0';
  return 0;
}

int petrel_vulkan_device_is_gpu(int i) {
  if (i < 0 || static_cast<size_t>(i) >= devices().size()) return -1;
  // list_devices() lines end with the device type in parentheses (vk_context.cpp type_name).
  const std::string& line = devices()[static_cast<size_t>(i)];
  for (const char* gpu : {"(discrete)", "(integrated)", "(virtual)"}) {
    const std::string suffix(gpu);
    if (line.size() >= suffix.size() && line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0) return 1;
  }
  return 0;
}

int petrel_vulkan_backend_create(void** backend, int* is_gpu, unsigned long long* memory_bytes, char* error,
                                 int error_len) {
  if (backend == nullptr) return -1;
  *backend = nullptr;
  std::unique_ptr<petrel::Backend> made;
  const petrel::Status st = petrel::vk::make_vulkan_backend(&made, is_gpu, memory_bytes);
  if (!st.ok()) {
    if (error != nullptr && error_len > 0) {
      std::strncpy(error, st.message().c_str(), static_cast<size_t>(error_len) - 1);
      error[error_len - 1] = '\0';
    }
    return -1;
  }
  *backend = made.release();
  return 0;
}

}  // extern "C"
