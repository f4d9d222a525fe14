#include "backend/vulkan/vk_buffer.h"

#include <cstring>

#include "backend/vulkan/vk_recording.h"

namespace petrel::vk {
namespace {

Status check_range(const Buffer& b, uint64_t offset, uint64_t bytes) {
  if (offset > b.size() || bytes > b.size() - offset) {
    return Status(StatusCode::invalid_argument, "vulkan: copy of " + std::to_string(bytes) + " bytes at " +
                                                    std::to_string(offset) + " is outside a buffer of " +
                                                    std::to_string(b.size()));
  }
  return Status::ok_status();
}

// One copy between two buffers on the queue, waited for.
Status copy_now(VulkanContext& ctx, const Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset,
                uint64_t bytes) {
  std::unique_ptr<Recording> rec;
  PETREL_RETURN_IF_ERROR(Recording::create(ctx, &rec));
  rec->copy(src, src_offset, dst, dst_offset, bytes);
  PETREL_RETURN_IF_ERROR(rec->finish());
  return rec->run();
}

}  // namespace

Status Buffer::create(VulkanContext& ctx, uint64_t bytes, MemoryKind kind, std::unique_ptr<Buffer>* out) {
  if (bytes == 0 || (ctx.info().max_allocation_size != 0 && bytes > ctx.info().max_allocation_size)) {
    return Status(StatusCode::invalid_argument, "vulkan: a buffer of " + std::to_string(bytes) +
                                                    " bytes (the device allows up to " +
                                                    std::to_string(ctx.info().max_allocation_size) + ")");
  }
  std::unique_ptr<Buffer> b(new Buffer(ctx));
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = vkCreateBuffer(ctx.device(), &bi, nullptr, &b->buffer_);
  if (r != VK_SUCCESS) return vk_error("creating a buffer", r);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx.device(), b->buffer_, &req);
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  // Device memory is mapped only where it is the host's memory too (integrated GPUs, lavapipe): on
  // a discrete card the device-local, host-visible type is a small BAR window (often 256 MiB) and
  // reading it from the host crosses the bus uncached, so there it is plain device memory.
  const int type = kind == MemoryKind::device
                       ? ctx.memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                         ctx.info().unified_memory ? host : 0)
                       : ctx.memory_type(req.memoryTypeBits, host, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (type < 0) return Status(StatusCode::unsupported, "vulkan: no memory type for a buffer");
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = static_cast<uint32_t>(type);
  r = vkAllocateMemory(ctx.device(), &ai, nullptr, &b->memory_);
  if (r != VK_SUCCESS) return vk_error("allocating device memory", r);
  r = vkBindBufferMemory(ctx.device(), b->buffer_, b->memory_, 0);
  if (r != VK_SUCCESS) return vk_error("binding device memory", r);
  b->size_ = bytes;
  if ((ctx.memory_properties().memoryTypes[type].propertyFlags & host) == host) {
    void* p = nullptr;
    r = vkMapMemory(ctx.device(), b->memory_, 0, VK_WHOLE_SIZE, 0, &p);
    if (r != VK_SUCCESS) return vk_error("mapping device memory", r);
    b->mapped_ = static_cast<uint8_t*>(p);
  }
  *out = std::move(b);
  return Status::ok_status();
}

Buffer::~Buffer() {
  if (mapped_ != nullptr) vkUnmapMemory(ctx_.device(), memory_);
  if (buffer_ != VK_NULL_HANDLE) vkDestroyBuffer(ctx_.device(), buffer_, nullptr);
  if (memory_ != VK_NULL_HANDLE) vkFreeMemory(ctx_.device(), memory_, nullptr);
}

Status upload(VulkanContext& ctx, Buffer& dst, uint64_t offset, const void* src, uint64_t bytes) {
  PETREL_RETURN_IF_ERROR(check_range(dst, offset, bytes));
  if (bytes == 0) return Status::ok_status();
  if (dst.mapped() != nullptr) {
    std::memcpy(dst.mapped() + offset, src, bytes);
    return Status::ok_status();
  }
  std::unique_ptr<Buffer> staging;
  PETREL_RETURN_IF_ERROR(Buffer::create(ctx, bytes, MemoryKind::host, &staging));
  std::memcpy(staging->mapped(), src, bytes);
  return copy_now(ctx, *staging, 0, dst, offset, bytes);
}

Status download(VulkanContext& ctx, const Buffer& src, uint64_t offset, void* dst, uint64_t bytes) {
  PETREL_RETURN_IF_ERROR(check_range(src, offset, bytes));
  if (bytes == 0) return Status::ok_status();
  if (src.mapped() != nullptr) {
    std::memcpy(dst, src.mapped() + offset, bytes);
    return Status::ok_status();
  }
  std::unique_ptr<Buffer> staging;
  PETREL_RETURN_IF_ERROR(Buffer::create(ctx, bytes, MemoryKind::host, &staging));
  PETREL_RETURN_IF_ERROR(copy_now(ctx, src, offset, *staging, 0, bytes));
  std::memcpy(dst, staging->mapped(), bytes);
  return Status::ok_status();
}

}  // namespace petrel::vk
