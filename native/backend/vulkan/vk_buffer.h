// Device memory: one VkBuffer with its own allocation, usable as a storage buffer and as a copy
// source and destination. Weights, activations, caches and recurrent state all live in Buffers;
// the host reaches them only through upload() / download() (or the mapping, where the device
// shares memory with the host).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>

#include "backend/vulkan/vk_context.h"
#include "petrel/status.h"

namespace petrel::vk {

enum class MemoryKind {
  device,  // device-local; mapped too where that memory is the host's (DeviceInfo::unified_memory)
  host,    // host-visible and coherent (staging, read-back)
};

class Buffer {
 public:
  // bytes > 0 and within the device's allocation limit.
  static Status create(VulkanContext& ctx, uint64_t bytes, MemoryKind kind, std::unique_ptr<Buffer>* out);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  VkBuffer handle() const { return buffer_; }
  uint64_t size() const { return size_; }
  // Host address of the whole buffer, or nullptr when the memory is not host-visible.
  uint8_t* mapped() const { return mapped_; }

 private:
  explicit Buffer(VulkanContext& ctx) : ctx_(ctx) {}
  VulkanContext& ctx_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint64_t size_ = 0;
  uint8_t* mapped_ = nullptr;
};

// Host <-> device copies that have finished when they return: through the mapping when the buffer
// has one, else through a staging buffer and a copy on the queue. invalid_argument when the range
// is outside the buffer.
Status upload(VulkanContext& ctx, Buffer& dst, uint64_t offset, const void* src, uint64_t bytes);
Status download(VulkanContext& ctx, const Buffer& src, uint64_t offset, void* dst, uint64_t bytes);

}  // namespace petrel::vk
