// libpetrel_vulkan as the addon reaches it: dlopened from beside the binary, C ABI resolved, the
// same devices listed as the backend finds itself.
#include <string>
#include <vector>

#include "backend/vulkan/vk_context.h"
#include "core/vulkan_loader.h"
#include "tests/test.h"

namespace petrel::vk {
namespace {

PETREL_TEST(vulkan_library_loads_and_lists_devices) {
  const VulkanProbe& probe = vulkan_probe();
  if (!probe.library_loaded) std::fprintf(stderr, "  %s\n", probe.reason.c_str());
  PETREL_CHECK(probe.library_loaded);
  PETREL_CHECK(vulkan_available());
  const std::vector<std::string> lines = list_devices();
  PETREL_CHECK_EQ(probe.device_names.size(), lines.size());
  for (size_t i = 0; i < lines.size() && i < probe.device_names.size(); ++i) {
    PETREL_CHECK_EQ(std::to_string(i) + ": " + probe.device_names[i], lines[i]);
  }
}

}  // namespace
}  // namespace petrel::vk
