#include "backend/vulkan/vk_pipeline.h"

namespace petrel::vk {

Status PipelineCache::create(VulkanContext& ctx, std::unique_ptr<PipelineCache>* out) {
  std::unique_ptr<PipelineCache> c(new PipelineCache(ctx));
  VkDescriptorSetLayoutBinding bindings[kMaxBindings];
  for (uint32_t i = 0; i < kMaxBindings; ++i) {
    bindings[i] = VkDescriptorSetLayoutBinding{};
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo li{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  li.bindingCount = kMaxBindings;
  li.pBindings = bindings;
  VkResult r = vkCreateDescriptorSetLayout(ctx.device(), &li, nullptr, &c->set_layout_);
  if (r != VK_SUCCESS) return vk_error("creating the descriptor set layout", r);
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes};
  VkPipelineLayoutCreateInfo pi{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pi.setLayoutCount = 1;
  pi.pSetLayouts = &c->set_layout_;
  pi.pushConstantRangeCount = 1;
  pi.pPushConstantRanges = &push;
  r = vkCreatePipelineLayout(ctx.device(), &pi, nullptr, &c->layout_);
  if (r != VK_SUCCESS) return vk_error("creating the pipeline layout", r);
  *out = std::move(c);
  return Status::ok_status();
}

PipelineCache::~PipelineCache() {
  VkDevice d = ctx_.device();
  for (auto& [name, p] : pipelines_) vkDestroyPipeline(d, p->pipeline, nullptr);
  for (VkShaderModule m : modules_) vkDestroyShaderModule(d, m, nullptr);
  if (layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(d, layout_, nullptr);
  if (set_layout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(d, set_layout_, nullptr);
}

Status PipelineCache::get(const std::string& name, uint32_t local_size_x, const std::vector<uint32_t>& constants,
                          const Pipeline** out) {
  std::string key = name + "/" + std::to_string(local_size_x);
  for (uint32_t c : constants) key += "," + std::to_string(c);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) {
    *out = it->second.get();
    return Status::ok_status();
  }
  const std::vector<uint32_t>* spirv = embedded_shader(name);
  if (spirv == nullptr) return Status(StatusCode::invalid_argument, "vulkan: no shader named " + name);

  VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  mi.codeSize = spirv->size() * sizeof(uint32_t);
  mi.pCode = spirv->data();
  VkShaderModule module = VK_NULL_HANDLE;
  VkResult r = vkCreateShaderModule(ctx_.device(), &mi, nullptr, &module);
  if (r != VK_SUCCESS) return vk_error("creating a shader module", r);
  modules_.push_back(module);

  std::vector<uint32_t> values{local_size_x};
  values.insert(values.end(), constants.begin(), constants.end());
  std::vector<VkSpecializationMapEntry> entries(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    entries[i] = {static_cast<uint32_t>(i), static_cast<uint32_t>(i * sizeof(uint32_t)), sizeof(uint32_t)};
  }
  VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(), values.size() * sizeof(uint32_t),
                          values.data()};
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = VkPipelineShaderStageCreateInfo{VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module;
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = &si;
  ci.layout = layout_;
  auto p = std::make_unique<Pipeline>();
  p->local_size_x = local_size_x;
  p->shader = name;
  r = vkCreateComputePipelines(ctx_.device(), VK_NULL_HANDLE, 1, &ci, nullptr, &p->pipeline);
  if (r != VK_SUCCESS) return vk_error(("compiling the pipeline " + name).c_str(), r);
  *out = p.get();
  pipelines_[key] = std::move(p);
  return Status::ok_status();
}

}  // namespace petrel::vk
