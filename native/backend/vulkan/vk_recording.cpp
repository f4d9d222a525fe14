#include "backend/vulkan/vk_recording.h"

#include <string>

namespace petrel::vk {
namespace {

constexpr uint32_t kSetsPerPool = 64;

}  // namespace

Status Recording::create(VulkanContext& ctx, std::unique_ptr<Recording>* out) {
  std::unique_ptr<Recording> rec(new Recording(ctx));
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.queueFamilyIndex = ctx.queue_family();
  VkResult r = vkCreateCommandPool(ctx.device(), &pi, nullptr, &rec->pool_);
  if (r != VK_SUCCESS) return vk_error("creating a command pool", r);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = rec->pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  r = vkAllocateCommandBuffers(ctx.device(), &ai, &rec->cmd_);
  if (r != VK_SUCCESS) return vk_error("allocating a command buffer", r);
  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  r = vkCreateFence(ctx.device(), &fi, nullptr, &rec->fence_);
  if (r != VK_SUCCESS) return vk_error("creating a fence", r);
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  r = vkBeginCommandBuffer(rec->cmd_, &bi);
  if (r != VK_SUCCESS) return vk_error("beginning a command buffer", r);
  *out = std::move(rec);
  return Status::ok_status();
}

Recording::~Recording() {
  VkDevice d = ctx_.device();
  if (fence_ != VK_NULL_HANDLE) vkDestroyFence(d, fence_, nullptr);
  for (VkDescriptorPool p : descriptor_pools_) vkDestroyDescriptorPool(d, p, nullptr);
  if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(d, pool_, nullptr);  // frees cmd_
}

void Recording::barrier_before_command() {
  if (commands_++ == 0) return;
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

Status Recording::new_descriptor_set(const PipelineCache& cache, VkDescriptorSet* out) {
  if (sets_left_in_pool_ == 0) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings};
    VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    const VkResult r = vkCreateDescriptorPool(ctx_.device(), &pi, nullptr, &pool);
    if (r != VK_SUCCESS) return vk_error("creating a descriptor pool", r);
    descriptor_pools_.push_back(pool);
    sets_left_in_pool_ = kSetsPerPool;
  }
  VkDescriptorSetLayout layout = cache.set_layout();
  VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  ai.descriptorPool = descriptor_pools_.back();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  const VkResult r = vkAllocateDescriptorSets(ctx_.device(), &ai, out);
  if (r != VK_SUCCESS) return vk_error("allocating a descriptor set", r);
  --sets_left_in_pool_;
  return Status::ok_status();
}

void Recording::dispatch(const PipelineCache& cache, const Pipeline& pipeline, const std::vector<Binding>& bindings,
                         const void* push, uint32_t push_bytes, const uint32_t groups[3]) {
  if (!error_.ok()) return;
  if (finished_) {
    error_ = Status(StatusCode::invalid_argument, "vulkan: dispatch after finish()");
    return;
  }
  const DeviceInfo& info = ctx_.info();
  if (bindings.size() > kMaxBindings || push_bytes > kPushConstantBytes || push_bytes % 4 != 0) {
    error_ = Status(StatusCode::invalid_argument, "vulkan: too many bindings or push-constant bytes");
    return;
  }
  for (int i = 0; i < 3; ++i) {
    if (groups[i] == 0 || groups[i] > info.max_workgroup_count[i]) {
      error_ = Status(StatusCode::invalid_argument,
                      "vulkan: dispatch of " + std::to_string(groups[i]) + " workgroups in dimension " +
                          std::to_string(i) + " (the device allows 1.." +
                          std::to_string(info.max_workgroup_count[i]) + ")");
      return;
    }
  }
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  VkDescriptorSet set = VK_NULL_HANDLE;
  error_ = new_descriptor_set(cache, &set);
  if (!error_.ok()) return;
  for (size_t i = 0; i < bindings.size(); ++i) {
    const Binding& b = bindings[i];
    if (b.buffer == nullptr || b.range == 0 || b.offset % info.min_storage_buffer_offset_alignment != 0 ||
        b.range > info.max_storage_buffer_range || b.offset > b.buffer->size() ||
        b.range > b.buffer->size() - b.offset) {
      error_ = Status(StatusCode::invalid_argument,
                      "vulkan: binding " + std::to_string(i) + " (offset " + std::to_string(b.offset) + ", range " +
                          std::to_string(b.range) + ") is empty, misaligned, too large or outside its buffer");
      return;
    }
    infos[i] = VkDescriptorBufferInfo{b.buffer->handle(), b.offset, b.range};
    writes[i] = VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
  barrier_before_command();
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, cache.layout(), 0, 1, &set, 0, nullptr);
  if (push_bytes > 0) vkCmdPushConstants(cmd_, cache.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd_, groups[0], groups[1], groups[2]);
}

void Recording::copy(const Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset, uint64_t bytes) {
  if (!error_.ok()) return;
  if (finished_ || bytes == 0 || src_offset > src.size() || bytes > src.size() - src_offset ||
      dst_offset > dst.size() || bytes > dst.size() - dst_offset) {
    error_ = Status(StatusCode::invalid_argument, "vulkan: a copy outside its buffers, empty, or after finish()");
    return;
  }
  barrier_before_command();
  VkBufferCopy region{src_offset, dst_offset, bytes};
  vkCmdCopyBuffer(cmd_, src.handle(), dst.handle(), 1, &region);
}

Status Recording::finish() {
  if (finished_) return error_;
  finished_ = true;
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  const VkResult r = vkEndCommandBuffer(cmd_);
  if (error_.ok() && r != VK_SUCCESS) error_ = vk_error("ending a command buffer", r);
  return error_;
}

Status Recording::run() {
  if (!finished_) return Status(StatusCode::invalid_argument, "vulkan: run() before finish()");
  PETREL_RETURN_IF_ERROR(error_);
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  VkResult r = vkResetFences(ctx_.device(), 1, &fence_);
  if (r != VK_SUCCESS) return vk_error("resetting a fence", r);
  r = vkQueueSubmit(ctx_.queue(), 1, &si, fence_);
  if (r != VK_SUCCESS) return vk_error("submitting", r);
  r = vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX);
  if (r != VK_SUCCESS) return vk_error("waiting for the device", r);
  return Status::ok_status();
}

}  // namespace petrel::vk
