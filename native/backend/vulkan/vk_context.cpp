#include "backend/vulkan/vk_context.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// VK_KHR_cooperative_matrix arrived in the Vulkan headers 1.3.255; older headers (Debian 12's
// 1.3.239) lack it, so its few types are declared here as the registry defines them.
#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME "VK_KHR_cooperative_matrix"
namespace {
constexpr auto VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR = static_cast<VkStructureType>(1000506000);
constexpr auto VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR = static_cast<VkStructureType>(1000506001);
constexpr uint32_t VK_SCOPE_SUBGROUP_KHR = 3;
struct VkPhysicalDeviceCooperativeMatrixFeaturesKHR {
  VkStructureType sType;
  void* pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
};
struct VkCooperativeMatrixPropertiesKHR {
  VkStructureType sType;
  void* pNext;
  uint32_t MSize, NSize, KSize;
  uint32_t AType, BType, CType, ResultType;  // VkComponentTypeKHR
  VkBool32 saturatingAccumulation;
  uint32_t scope;  // VkScopeKHR
};
typedef VkResult(VKAPI_PTR* PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)(VkPhysicalDevice, uint32_t*,
                                                                                   VkCooperativeMatrixPropertiesKHR*);
}  // namespace
#endif

namespace petrel::vk {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

bool has_device_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkExtensionProperties> exts(n);
  if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data()) != VK_SUCCESS) return false;
  for (const auto& e : exts) {
    if (std::strcmp(e.extensionName, name) == 0) return true;
  }
  return false;
}

// The device's subgroup-scope cooperative-matrix shapes (empty when the call is missing or fails).
std::vector<CoopMatShape> coopmat_shapes(VkInstance inst, VkPhysicalDevice pd) {
  std::vector<CoopMatShape> out;
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
      vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
  if (get == nullptr) return out;
  uint32_t n = 0;
  if (get(pd, &n, nullptr) != VK_SUCCESS || n == 0) return out;
  std::vector<VkCooperativeMatrixPropertiesKHR> props(n);
  for (auto& p : props) {
    p = {};
    p.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
  }
  if (get(pd, &n, props.data()) != VK_SUCCESS) return out;
  for (uint32_t i = 0; i < n; ++i) {
    const auto& p = props[i];
    if (static_cast<uint32_t>(p.scope) != static_cast<uint32_t>(VK_SCOPE_SUBGROUP_KHR)) continue;
    out.push_back({p.MSize, p.NSize, p.KSize, static_cast<uint32_t>(p.AType), static_cast<uint32_t>(p.BType),
                   static_cast<uint32_t>(p.CType), static_cast<uint32_t>(p.ResultType)});
  }
  return out;
}

// The same from VK_NV_cooperative_matrix: its subgroup-scope shapes, in KHR's component numbering
// (the two extensions number f16 0 and f32 1 alike).
std::vector<CoopMatShape> coopmat_nv_shapes(VkInstance inst, VkPhysicalDevice pd) {
  std::vector<CoopMatShape> out;
  auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (get == nullptr) return out;
  uint32_t n = 0;
  if (get(pd, &n, nullptr) != VK_SUCCESS || n == 0) return out;
  std::vector<VkCooperativeMatrixPropertiesNV> props(n);
  for (auto& p : props) {
    p = {};
    p.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
  }
  if (get(pd, &n, props.data()) != VK_SUCCESS) return out;
  for (uint32_t i = 0; i < n; ++i) {
    const auto& p = props[i];
    if (p.scope != VK_SCOPE_SUBGROUP_NV) continue;
    out.push_back({p.MSize, p.NSize, p.KSize, static_cast<uint32_t>(p.AType), static_cast<uint32_t>(p.BType),
                   static_cast<uint32_t>(p.CType), static_cast<uint32_t>(p.DType)});
  }
  return out;
}

bool has_f16_f32_shape(const std::vector<CoopMatShape>& shapes, uint32_t m, uint32_t n, uint32_t k) {
  constexpr uint32_t f16 = 0, f32 = 1;  // VkComponentTypeKHR and VkComponentTypeNV alike
  for (const CoopMatShape& s : shapes) {
    if (s.m == m && s.n == n && s.k == k && s.a_type == f16 && s.b_type == f16 && s.c_type == f32 &&
        s.result_type == f32) {
      return true;
    }
  }
  return false;
}

bool has_layer(const char* name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(n);
  if (vkEnumerateInstanceLayerProperties(&n, layers.data()) != VK_SUCCESS) return false;
  for (const auto& l : layers) {
    if (std::strcmp(l.layerName, name) == 0) return true;
  }
  return false;
}

// The queue family with compute (preferring one without graphics: a dedicated compute queue), or -1.
int compute_queue_family(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fams(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fams.data());
  int any = -1;
  for (uint32_t i = 0; i < n; ++i) {
    if ((fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) == 0) continue;
    if ((fams[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) == 0) return static_cast<int>(i);
    if (any < 0) any = static_cast<int>(i);
  }
  return any;
}

// Physical devices that have a compute queue and Vulkan 1.2.
std::vector<VkPhysicalDevice> compute_devices(VkInstance inst) {
  uint32_t n = 0;
  std::vector<VkPhysicalDevice> out;
  if (vkEnumeratePhysicalDevices(inst, &n, nullptr) != VK_SUCCESS || n == 0) return out;
  std::vector<VkPhysicalDevice> all(n);
  if (vkEnumeratePhysicalDevices(inst, &n, all.data()) != VK_SUCCESS) return out;
  for (VkPhysicalDevice pd : all) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    if (p.apiVersion >= VK_API_VERSION_1_2 && compute_queue_family(pd) >= 0) out.push_back(pd);
  }
  return out;
}

VkResult create_instance(bool validate, VkInstance* out) {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "petrel";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pApplicationInfo = &app;
  const char* layers[] = {kValidationLayer};
  const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  if (validate) {
    ci.enabledLayerCount = 1;
    ci.ppEnabledLayerNames = layers;
    ci.enabledExtensionCount = 1;
    ci.ppEnabledExtensionNames = extensions;
  }
  return vkCreateInstance(&ci, nullptr, out);
}

}  // namespace

bool DeviceInfo::has_coopmat_f16_f32(uint32_t m, uint32_t n, uint32_t k) const {
  return has_f16_f32_shape(coopmat_shapes, m, n, k);
}

bool DeviceInfo::has_coopmat_nv_f16_f32(uint32_t m, uint32_t n, uint32_t k) const {
  return has_f16_f32_shape(coopmat_nv_shapes, m, n, k);
}

const char* result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
  }
}

Status vk_error(const char* what, VkResult r) {
  const bool oom = r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY;
  return Status(oom ? StatusCode::out_of_memory : StatusCode::unsupported,
                std::string("vulkan: ") + what + " failed (" + result_name(r) + ")");
}

std::vector<std::string> list_devices() {
  std::vector<std::string> lines;
  VkInstance inst = VK_NULL_HANDLE;
  if (create_instance(false, &inst) != VK_SUCCESS) return lines;
  const auto devices = compute_devices(inst);
  for (size_t i = 0; i < devices.size(); ++i) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devices[i], &p);
    lines.push_back(std::to_string(i) + ": " + p.deviceName + " (" + type_name(p.deviceType) + ")");
  }
  vkDestroyInstance(inst, nullptr);
  return lines;
}

VKAPI_ATTR VkBool32 VKAPI_CALL VulkanContext::on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                         VkDebugUtilsMessageTypeFlagsEXT,
                                                         const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                         void* self) {
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    static_cast<VulkanContext*>(self)->validation_messages_.fetch_add(1);
    std::fprintf(stderr, "vulkan validation: %s\n", data->pMessage != nullptr ? data->pMessage : "(no message)");
  }
  return VK_FALSE;
}

Status VulkanContext::create(std::unique_ptr<VulkanContext>* out) {
  std::unique_ptr<VulkanContext> ctx(new VulkanContext());
  const bool validate = env_flag("PETREL_VULKAN_VALIDATE");
  if (validate && !has_layer(kValidationLayer)) {
    return Status(StatusCode::unsupported,
                  "vulkan: PETREL_VULKAN_VALIDATE is set but the validation layer is not installed "
                  "(Debian: vulkan-validationlayers)");
  }
  VkResult r = create_instance(validate, &ctx->instance_);
  if (r != VK_SUCCESS) return vk_error("creating the instance (is a Vulkan driver installed?)", r);

  if (validate) {
    auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(ctx->instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (create_messenger == nullptr) return Status(StatusCode::unsupported, "vulkan: no VK_EXT_debug_utils");
    VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mi.pfnUserCallback = &VulkanContext::on_message;
    mi.pUserData = ctx.get();
    r = create_messenger(ctx->instance_, &mi, nullptr, &ctx->messenger_);
    if (r != VK_SUCCESS) return vk_error("creating the validation messenger", r);
  }

  const auto devices = compute_devices(ctx->instance_);
  if (devices.empty()) return Status(StatusCode::unsupported, "vulkan: no device with Vulkan 1.2 compute");
  size_t pick = 0;
  if (const char* want = std::getenv("PETREL_VULKAN_DEVICE"); want != nullptr && want[0] != '\0') {
    char* end = nullptr;
    const long i = std::strtol(want, &end, 10);
    if (*end != '\0' || i < 0 || static_cast<size_t>(i) >= devices.size()) {
      return Status(StatusCode::invalid_argument, "vulkan: PETREL_VULKAN_DEVICE=" + std::string(want) +
                                                      " is not a device index (there are " +
                                                      std::to_string(devices.size()) + ")");
    }
    pick = static_cast<size_t>(i);
  } else {
    int best_rank = -1;
    for (size_t i = 0; i < devices.size(); ++i) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(devices[i], &p);
      const int rank = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? 3
                       : p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 2
                                                                                : 1;
      if (rank > best_rank) {
        best_rank = rank;
        pick = i;
      }
    }
  }
  ctx->physical_ = devices[pick];

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceMaintenance3Properties maint3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  subgroup.pNext = &maint3;
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(ctx->physical_, &props);
  const VkPhysicalDeviceLimits& lim = props.properties.limits;
  DeviceInfo& info = ctx->info_;
  info.name = props.properties.deviceName;
  info.type = props.properties.deviceType;
  info.api_version = props.properties.apiVersion;
  info.subgroup_size = subgroup.subgroupSize;
  info.max_storage_buffer_range = lim.maxStorageBufferRange;
  info.min_storage_buffer_offset_alignment = lim.minStorageBufferOffsetAlignment;
  info.max_allocation_size = maint3.maxMemoryAllocationSize;
  info.max_shared_memory = lim.maxComputeSharedMemorySize;
  info.max_push_constants = lim.maxPushConstantsSize;
  for (int i = 0; i < 3; ++i) info.max_workgroup_count[i] = lim.maxComputeWorkGroupCount[i];
  vkGetPhysicalDeviceMemoryProperties(ctx->physical_, &ctx->memory_);
  for (uint32_t h = 0; h < ctx->memory_.memoryHeapCount; ++h) {
    if (ctx->memory_.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
      info.device_local_bytes = std::max<uint64_t>(info.device_local_bytes, ctx->memory_.memoryHeaps[h].size);
    }
  }
  for (uint32_t t = 0; t < ctx->memory_.memoryTypeCount; ++t) {
    const auto f = ctx->memory_.memoryTypes[t].propertyFlags;
    if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        ctx->memory_.memoryHeaps[ctx->memory_.memoryTypes[t].heapIndex].size == info.device_local_bytes) {
      info.unified_memory = true;
    }
  }

  // Optional features: integer dot products (the int8 decode products) and cooperative matrices
  // with fp16 (the prefill product), each enabled only where the device has it and its switch
  // does not turn it off. The extensions are named even on a 1.3 device: the instance asks for 1.2.
  std::vector<const char*> extensions;
  VkPhysicalDeviceShaderIntegerDotProductFeaturesKHR int_dot{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES_KHR};
  VkPhysicalDeviceShaderFloat16Int8Features f16_int8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat{};
  coopmat.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR;
  const bool has_int_dot_ext = !env_flag("PETREL_VULKAN_NO_INT_DOT") &&
                               has_device_extension(ctx->physical_, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  const bool has_coopmat_ext = !env_flag("PETREL_VULKAN_NO_COOPMAT") &&
                               has_device_extension(ctx->physical_, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkanMemoryModelFeatures memory_model{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
  const bool has_coopmat_nv_ext = !env_flag("PETREL_VULKAN_NO_COOPMAT") &&
                                  has_device_extension(ctx->physical_, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  {
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    void** next = &features.pNext;
    if (has_int_dot_ext) {
      *next = &int_dot;
      next = &int_dot.pNext;
    }
    *next = &f16_int8;
    next = &f16_int8.pNext;
    if (has_coopmat_ext) {
      *next = &coopmat;
      next = &coopmat.pNext;
    }
    if (has_coopmat_nv_ext) {
      *next = &coopmat_nv;
      next = &coopmat_nv.pNext;
      *next = &memory_model;
    }
    vkGetPhysicalDeviceFeatures2(ctx->physical_, &features);
  }
  if (has_int_dot_ext && int_dot.shaderIntegerDotProduct) {
    info.integer_dot_product = true;
    extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    VkPhysicalDeviceShaderIntegerDotProductPropertiesKHR dot_props{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES_KHR};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &dot_props;
    vkGetPhysicalDeviceProperties2(ctx->physical_, &p2);
    info.integer_dot_accelerated = dot_props.integerDotProduct4x8BitPackedSignedAccelerated == VK_TRUE;
  }
  int_dot.pNext = nullptr;
  int_dot.shaderIntegerDotProduct = info.integer_dot_product ? VK_TRUE : VK_FALSE;
  if (has_coopmat_ext && coopmat.cooperativeMatrix && f16_int8.shaderFloat16) {
    info.coopmat_shapes = coopmat_shapes(ctx->instance_, ctx->physical_);
    info.cooperative_matrix = !info.coopmat_shapes.empty();
  }
  if (info.cooperative_matrix) {
    info.float16 = true;
    extensions.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  }
  // NV cooperative matrices: the 16x16x16 fp16 -> fp32 subgroup shape in compute shaders, with
  // fp16 arithmetic and the Vulkan memory model (glslc declares VulkanMemoryModel in every NV
  // cooperative-matrix module) and the subgroup index (gl_SubgroupID: basic subgroup operations in
  // compute, which Vulkan 1.1 guarantees; checked all the same).
  if (has_coopmat_nv_ext && coopmat_nv.cooperativeMatrix && f16_int8.shaderFloat16 && memory_model.vulkanMemoryModel &&
      (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
      (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT)) {
    VkPhysicalDeviceCooperativeMatrixPropertiesNV nv_props{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &nv_props;
    vkGetPhysicalDeviceProperties2(ctx->physical_, &p2);
    info.coopmat_nv_shapes = coopmat_nv_shapes(ctx->instance_, ctx->physical_);
    info.coopmat_nv = (nv_props.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0 &&
                      info.has_coopmat_nv_f16_f32(16, 16, 16);
  }
  if (info.coopmat_nv) {
    info.float16 = true;
    info.vulkan_memory_model = true;
    extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
  }
  // Only what is used is enabled: the fp16 arithmetic the cooperative-matrix shaders need.
  const VkBool32 float16 = info.float16 ? VK_TRUE : VK_FALSE;
  f16_int8 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  f16_int8.shaderFloat16 = float16;
  coopmat.pNext = nullptr;
  coopmat.cooperativeMatrix = info.cooperative_matrix ? VK_TRUE : VK_FALSE;
  coopmat.cooperativeMatrixRobustBufferAccess = VK_FALSE;
  const void* device_next = nullptr;
  if (info.cooperative_matrix) {
    coopmat.pNext = const_cast<void*>(device_next);
    device_next = &coopmat;
  }
  if (info.coopmat_nv) {
    coopmat_nv = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    coopmat_nv.cooperativeMatrix = VK_TRUE;
    coopmat_nv.pNext = const_cast<void*>(device_next);
    memory_model = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES};
    memory_model.vulkanMemoryModel = VK_TRUE;
    memory_model.pNext = &coopmat_nv;
    device_next = &memory_model;
  }
  if (info.float16) {
    f16_int8.pNext = const_cast<void*>(device_next);
    device_next = &f16_int8;
  }
  if (info.integer_dot_product) {
    int_dot.pNext = const_cast<void*>(device_next);
    device_next = &int_dot;
  }

  ctx->queue_family_ = static_cast<uint32_t>(compute_queue_family(ctx->physical_));
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qi.queueFamilyIndex = ctx->queue_family_;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  VkDeviceCreateInfo di{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.pNext = device_next;
  di.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  di.ppEnabledExtensionNames = extensions.data();
  r = vkCreateDevice(ctx->physical_, &di, nullptr, &ctx->device_);
  if (r != VK_SUCCESS) return vk_error("creating the device", r);
  vkGetDeviceQueue(ctx->device_, ctx->queue_family_, 0, &ctx->queue_);
  *out = std::move(ctx);
  return Status::ok_status();
}

VulkanContext::~VulkanContext() {
  if (device_ != VK_NULL_HANDLE) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
  if (messenger_ != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance_, messenger_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

int VulkanContext::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                               VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (uint32_t t = 0; t < memory_.memoryTypeCount; ++t) {
    if ((type_bits & (1u << t)) == 0) continue;
    const auto f = memory_.memoryTypes[t].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return static_cast<int>(t);
    if (fallback < 0) fallback = static_cast<int>(t);
  }
  return fallback;
}

}  // namespace petrel::vk
