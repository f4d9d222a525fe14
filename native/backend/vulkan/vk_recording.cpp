#include "backend/vulkan/vk_recording.h"

#include <cstring>
#include <string>

namespace petrel::vk {
namespace {

constexpr uint32_t kSetsPerPool = 64;

bool same_binding(const Binding& a, const Binding& b) {
  return a.buffer == b.buffer && a.offset == b.offset && a.range == b.range;
}

}  // namespace

bool Recording::Command::operator==(const Command& o) const {
  if (kind != o.kind || cache != o.cache || pipeline != o.pipeline || n_bindings != o.n_bindings ||
      push_bytes != o.push_bytes || fill_value != o.fill_value) {
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    if (groups[i] != o.groups[i]) return false;
  }
  for (uint32_t i = 0; i < n_bindings; ++i) {
    if (!same_binding(bindings[i], o.bindings[i])) return false;
  }
  if (regions.size() != o.regions.size()) return false;
  for (size_t i = 0; i < regions.size(); ++i) {
    if (regions[i].srcOffset != o.regions[i].srcOffset || regions[i].dstOffset != o.regions[i].dstOffset ||
        regions[i].size != o.regions[i].size) {
      return false;
    }
  }
  return std::memcmp(push, o.push, push_bytes) == 0;
}

Status Recording::create(VulkanContext& ctx, std::unique_ptr<Recording>* out) {
  // The Vulkan objects are made by finish(): a recording that is only compared and dropped (its
  // twin replays instead) costs no driver calls.
  out->reset(new Recording(ctx));
  return Status::ok_status();
}

Recording::~Recording() {
  VkDevice d = ctx_.device();
  if (timestamps_ != VK_NULL_HANDLE) vkDestroyQueryPool(d, timestamps_, nullptr);
  if (fence_ != VK_NULL_HANDLE) vkDestroyFence(d, fence_, nullptr);
  for (VkDescriptorPool p : descriptor_pools_) vkDestroyDescriptorPool(d, p, nullptr);
  if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(d, pool_, nullptr);  // frees cmd_
}

bool Recording::same_commands(const Recording& other) const {
  if (commands_.size() != other.commands_.size()) return false;
  for (size_t i = 0; i < commands_.size(); ++i) {
    if (!(commands_[i] == other.commands_[i])) return false;
  }
  return true;
}

const char* Recording::command_label(size_t i) const {
  if (i >= commands_.size()) return "";
  const Command& c = commands_[i];
  switch (c.kind) {
    case Command::Kind::copy: return "copy";
    case Command::Kind::fill: return "fill";
    case Command::Kind::dispatch: break;
  }
  return c.pipeline->shader.c_str();
}

bool Recording::uses(const Buffer& buffer) const {
  for (const Command& c : commands_) {
    for (uint32_t i = 0; i < c.n_bindings; ++i) {
      if (c.bindings[i].buffer == &buffer) return true;
    }
  }
  return false;
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
  Command c;
  c.kind = Command::Kind::dispatch;
  c.cache = &cache;
  c.pipeline = &pipeline;
  c.n_bindings = static_cast<uint32_t>(bindings.size());
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
    c.bindings[i] = b;
  }
  c.push_bytes = push_bytes;
  if (push_bytes > 0) std::memcpy(c.push, push, push_bytes);
  for (int i = 0; i < 3; ++i) c.groups[i] = groups[i];
  commands_.push_back(c);
}

void Recording::copy(const Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset, uint64_t bytes) {
  copy(src, dst, {VkBufferCopy{src_offset, dst_offset, bytes}});
}

void Recording::copy(const Buffer& src, Buffer& dst, const std::vector<VkBufferCopy>& regions) {
  if (!error_.ok()) return;
  bool ok = !finished_ && !regions.empty();
  for (const VkBufferCopy& r : regions) {
    ok = ok && r.size > 0 && r.srcOffset <= src.size() && r.size <= src.size() - r.srcOffset &&
         r.dstOffset <= dst.size() && r.size <= dst.size() - r.dstOffset;
  }
  if (!ok) {
    error_ = Status(StatusCode::invalid_argument, "vulkan: a copy outside its buffers, empty, or after finish()");
    return;
  }
  Command c;
  c.kind = Command::Kind::copy;
  c.n_bindings = 2;
  c.bindings[0] = Binding{&src, 0, src.size()};
  c.bindings[1] = Binding{&dst, 0, dst.size()};
  c.regions = regions;
  commands_.push_back(std::move(c));
}

void Recording::fill(Buffer& dst, uint64_t offset, uint64_t bytes, uint32_t value) {
  if (!error_.ok()) return;
  if (finished_ || bytes == 0 || bytes % 4 != 0 || offset % 4 != 0 || offset > dst.size() ||
      bytes > dst.size() - offset) {
    error_ = Status(StatusCode::invalid_argument, "vulkan: a fill outside its buffer, unaligned, or after finish()");
    return;
  }
  Command c;
  c.kind = Command::Kind::fill;
  c.n_bindings = 1;
  c.bindings[0] = Binding{&dst, offset, bytes};
  c.fill_value = value;
  commands_.push_back(c);
}

void Recording::barrier(VkPipelineStageFlags dst_stages, VkAccessFlags dst_access) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stages, 0, 1,
                       &mb, 0, nullptr, 0, nullptr);
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

Status Recording::encode(const Command& c, bool first) {
  // Each command waits for every write before it: one global barrier, no dependency tracking.
  if (!first) {
    barrier(VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                VK_ACCESS_TRANSFER_WRITE_BIT);
  }
  switch (c.kind) {
    case Command::Kind::copy:
      vkCmdCopyBuffer(cmd_, c.bindings[0].buffer->handle(), c.bindings[1].buffer->handle(),
                      static_cast<uint32_t>(c.regions.size()), c.regions.data());
      return Status::ok_status();
    case Command::Kind::fill:
      vkCmdFillBuffer(cmd_, c.bindings[0].buffer->handle(), c.bindings[0].offset, c.bindings[0].range, c.fill_value);
      return Status::ok_status();
    case Command::Kind::dispatch:
      break;
  }
  VkDescriptorSet set = VK_NULL_HANDLE;
  PETREL_RETURN_IF_ERROR(new_descriptor_set(*c.cache, &set));
  VkDescriptorBufferInfo infos[kMaxBindings];
  VkWriteDescriptorSet writes[kMaxBindings];
  for (uint32_t i = 0; i < c.n_bindings; ++i) {
    infos[i] = VkDescriptorBufferInfo{c.bindings[i].buffer->handle(), c.bindings[i].offset, c.bindings[i].range};
    writes[i] = VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_.device(), c.n_bindings, writes, 0, nullptr);
  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, c.pipeline->pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, c.cache->layout(), 0, 1, &set, 0, nullptr);
  if (c.push_bytes > 0) {
    vkCmdPushConstants(cmd_, c.cache->layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, c.push_bytes, c.push);
  }
  vkCmdDispatch(cmd_, c.groups[0], c.groups[1], c.groups[2]);
  return Status::ok_status();
}

Status Recording::finish() {
  if (finished_) return error_;
  finished_ = true;
  if (!error_.ok()) return error_;
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.queueFamilyIndex = ctx_.queue_family();
  VkResult r = vkCreateCommandPool(ctx_.device(), &pi, nullptr, &pool_);
  if (r != VK_SUCCESS) return error_ = vk_error("creating a command pool", r);
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  r = vkAllocateCommandBuffers(ctx_.device(), &ai, &cmd_);
  if (r != VK_SUCCESS) return error_ = vk_error("allocating a command buffer", r);
  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  r = vkCreateFence(ctx_.device(), &fi, nullptr, &fence_);
  if (r != VK_SUCCESS) return error_ = vk_error("creating a fence", r);
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  r = vkBeginCommandBuffer(cmd_, &bi);
  if (r != VK_SUCCESS) return error_ = vk_error("beginning a command buffer", r);
  if (profile_) {
    // Timestamps only where the queue family keeps them.
    uint32_t n_families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx_.physical_device(), &n_families, nullptr);
    std::vector<VkQueueFamilyProperties> families(n_families);
    vkGetPhysicalDeviceQueueFamilyProperties(ctx_.physical_device(), &n_families, families.data());
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(ctx_.physical_device(), &props);
    if (ctx_.queue_family() < n_families && families[ctx_.queue_family()].timestampValidBits > 0) {
      VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
      qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qi.queryCount = static_cast<uint32_t>(commands_.size() + 1);
      if (vkCreateQueryPool(ctx_.device(), &qi, nullptr, &timestamps_) == VK_SUCCESS) {
        timestamp_ns_ = props.limits.timestampPeriod;
        vkCmdResetQueryPool(cmd_, timestamps_, 0, qi.queryCount);
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, timestamps_, 0);
      }
    }
  }
  for (size_t i = 0; i < commands_.size(); ++i) {
    error_ = encode(commands_[i], i == 0);
    if (!error_.ok()) return error_;
    if (timestamps_ != VK_NULL_HANDLE) {
      vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timestamps_, static_cast<uint32_t>(i + 1));
    }
  }
  // Device writes visible to the host once run() returns.
  barrier(VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  r = vkEndCommandBuffer(cmd_);
  if (r != VK_SUCCESS) error_ = vk_error("ending a command buffer", r);
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
  if (timestamps_ != VK_NULL_HANDLE) {
    std::vector<uint64_t> ticks(commands_.size() + 1);
    r = vkGetQueryPoolResults(ctx_.device(), timestamps_, 0, static_cast<uint32_t>(ticks.size()),
                              ticks.size() * sizeof(uint64_t), ticks.data(), sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    command_ms_.assign(commands_.size(), 0.0);
    if (r == VK_SUCCESS) {
      for (size_t i = 0; i < commands_.size(); ++i) {
        command_ms_[i] = static_cast<double>(ticks[i + 1] - ticks[i]) * timestamp_ns_ * 1e-6;
      }
    }
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
