// Compute pipelines from the shaders built into this library (shaders/*.comp, compiled by glslc
// at build time and embedded). Every pipeline shares one layout: kMaxBindings storage buffers in
// set 0 (bindings 0..kMaxBindings-1) and kPushConstantBytes of push constants, so a recording
// writes its descriptor sets once and needs no per-pipeline layout.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/vk_context.h"
#include "petrel/status.h"

namespace petrel::vk {

constexpr uint32_t kMaxBindings = 8;
constexpr uint32_t kPushConstantBytes = 128;  // the minimum every device guarantees

// SPIR-V words of the embedded shader `name` (the .comp file's stem), or nullptr.
const std::vector<uint32_t>* embedded_shader(const std::string& name);

struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  uint32_t local_size_x = 0;  // as specialised (constant_id 0)
  std::string shader;         // the .comp file's stem (profiles name commands by it)
};

class PipelineCache {
 public:
  static Status create(VulkanContext& ctx, std::unique_ptr<PipelineCache>* out);
  ~PipelineCache();
  PipelineCache(const PipelineCache&) = delete;
  PipelineCache& operator=(const PipelineCache&) = delete;

  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

  // The pipeline of shader `name` with its workgroup width (specialisation constant 0) set to
  // local_size_x and constants 1.. set to `constants`; compiled on first use, then cached.
  Status get(const std::string& name, uint32_t local_size_x, const std::vector<uint32_t>& constants,
             const Pipeline** out);

 private:
  explicit PipelineCache(VulkanContext& ctx) : ctx_(ctx) {}
  VulkanContext& ctx_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
  std::vector<VkShaderModule> modules_;
};

}  // namespace petrel::vk
