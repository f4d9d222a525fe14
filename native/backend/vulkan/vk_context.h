// One Vulkan compute device: instance, the chosen physical device, a logical device with one
// compute queue, and what petrel needs to know about the device's limits. Everything else in
// backend/vulkan/ (buffers, pipelines, recordings, operations) hangs off a VulkanContext.
//
// Environment:
//   PETREL_VULKAN_DEVICE    index into the list of compute devices (default: the first discrete
//                           GPU, else the first integrated one, else the first device)
//   PETREL_VULKAN_VALIDATE  1: enable the Khronos validation layer and count what it reports
//                           (the tests set it and fail on any message)
//   PETREL_VULKAN_NO_INT_DOT 1: leave integer dot products off (the float decode products run)
//   PETREL_VULKAN_NO_COOPMAT 1: leave cooperative matrices off, KHR and NV (the portable prefill
//                           product runs)
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel::vk {

// One cooperative-matrix shape the device multiplies (VkCooperativeMatrixPropertiesKHR at subgroup
// scope): A is M x K of a_type, B is K x N of b_type, C and the result M x N of c_type.
struct CoopMatShape {
  uint32_t m = 0, n = 0, k = 0;
  uint32_t a_type = 0, b_type = 0, c_type = 0, result_type = 0;  // VkComponentTypeKHR: 0 f16, 1 f32
};

// What a compute device offers, read once at creation.
struct DeviceInfo {
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t api_version = 0;
  uint32_t subgroup_size = 0;                  // lavapipe 8, NVIDIA 32, AMD 32 or 64
  uint64_t max_storage_buffer_range = 0;       // bytes one binding may span (lavapipe: 128 MiB)
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint64_t max_allocation_size = 0;
  uint32_t max_shared_memory = 0;
  uint32_t max_push_constants = 0;
  uint32_t max_workgroup_count[3] = {0, 0, 0};
  uint64_t device_local_bytes = 0;             // the largest device-local heap
  bool unified_memory = false;                 // the largest device-local heap is host-visible too
  // Features enabled on the logical device (each off when the device lacks it or its
  // PETREL_VULKAN_NO_* switch is set).
  bool integer_dot_product = false;            // shaderIntegerDotProduct (OpSDot on packed 4x8 bits)
  bool integer_dot_accelerated = false;        // integerDotProduct4x8BitPackedSignedAccelerated
  bool float16 = false;                        // shaderFloat16 (enabled with cooperative matrices)
  bool cooperative_matrix = false;             // VK_KHR_cooperative_matrix, compute stage
  std::vector<CoopMatShape> coopmat_shapes;    // subgroup-scope shapes, as the device lists them
  // VK_NV_cooperative_matrix (NVIDIA's drivers; the glslc of Debian 12 compiles only this one's
  // GLSL), on when the device multiplies 16x16x16 fp16 tiles into fp32 at subgroup scope in compute
  // shaders with fp16 arithmetic and the Vulkan memory model (which glslc's NV cooperative-matrix
  // SPIR-V declares); then those two are enabled too. The prefill product mat_mat_coopmat runs on it.
  bool coopmat_nv = false;
  std::vector<CoopMatShape> coopmat_nv_shapes; // subgroup-scope shapes (VkComponentTypeNV: 0 f16, 1 f32)
  bool vulkan_memory_model = false;            // vulkanMemoryModel (enabled with coopmat_nv)

  // Whether coopmat_shapes has m x n x k with f16 A and B and an f32 accumulator and result.
  bool has_coopmat_f16_f32(uint32_t m, uint32_t n, uint32_t k) const;
  // The same for coopmat_nv_shapes.
  bool has_coopmat_nv_f16_f32(uint32_t m, uint32_t n, uint32_t k) const;
};

// One line per compute device the Vulkan loader reports ("0: NVIDIA H100 80GB HBM3 (discrete)"),
// empty when there is no loader, no driver or no device. Does not create a logical device.
std::vector<std::string> list_devices();

class VulkanContext {
 public:
  // Creates the instance and a logical device on the chosen physical device. unsupported when
  // no Vulkan 1.2 compute device is present (a message that says why).
  static Status create(std::unique_ptr<VulkanContext>* out);
  ~VulkanContext();
  VulkanContext(const VulkanContext&) = delete;
  VulkanContext& operator=(const VulkanContext&) = delete;

  VkInstance instance() const { return instance_; }
  VkPhysicalDevice physical_device() const { return physical_; }
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const DeviceInfo& info() const { return info_; }
  const VkPhysicalDeviceMemoryProperties& memory_properties() const { return memory_; }

  // Index of a memory type with all of `required` among `type_bits`, preferring one that also has
  // `preferred`; -1 when none.
  int memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;

  // Validation-layer messages of severity warning or error since creation (0 when validation is
  // off). Each one was also printed to stderr.
  int validation_messages() const { return validation_messages_.load(); }
  bool validating() const { return messenger_ != VK_NULL_HANDLE; }

 private:
  VulkanContext() = default;
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data, void* self);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkPhysicalDeviceMemoryProperties memory_{};
  DeviceInfo info_;
  std::atomic<int> validation_messages_{0};
};

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc., for one-line errors.
const char* result_name(VkResult r);

// A Status for a failed call: out_of_memory for the two out-of-memory results, else unsupported.
Status vk_error(const char* what, VkResult r);

}  // namespace petrel::vk
