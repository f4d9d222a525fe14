// A recording: a command buffer of dispatches and copies, written once and run any number of
// times. This is how a decode step runs without per-token host work: everything a step varies
// (the token id, its position) is read by the shaders from device buffers, so the same recording
// replays for every token with no allocation and no descriptor update.
//
// Each command waits for every command before it (one global barrier between them); finish() adds
// the barrier that makes device writes visible to the host after run() returns.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_pipeline.h"
#include "petrel/status.h"

namespace petrel::vk {

// A range of a buffer bound to one binding of a shader. offset is a multiple of the device's
// minStorageBufferOffsetAlignment and range at most its maxStorageBufferRange (128 MiB on
// lavapipe): larger tensors are bound piece by piece (see ops).
struct Binding {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t range = 0;
};

class Recording {
 public:
  static Status create(VulkanContext& ctx, std::unique_ptr<Recording>* out);
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

  // Appends one dispatch of groups[0] x groups[1] x groups[2] workgroups, bindings 0.. in order
  // (at most kMaxBindings; the rest of the layout's bindings are left unused), push constants
  // from `push` (at most kPushConstantBytes). A bad argument is remembered and returned by finish().
  void dispatch(const PipelineCache& cache, const Pipeline& pipeline, const std::vector<Binding>& bindings,
                const void* push, uint32_t push_bytes, const uint32_t groups[3]);
  void copy(const Buffer& src, uint64_t src_offset, Buffer& dst, uint64_t dst_offset, uint64_t bytes);

  // Ends the recording: the first error of any append, or ok.
  Status finish();
  // Submits the finished recording and waits for it.
  Status run();

  size_t commands() const { return commands_; }

 private:
  explicit Recording(VulkanContext& ctx) : ctx_(ctx) {}
  void barrier_before_command();
  Status new_descriptor_set(const PipelineCache& cache, VkDescriptorSet* out);

  VulkanContext& ctx_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> descriptor_pools_;
  uint32_t sets_left_in_pool_ = 0;
  size_t commands_ = 0;
  bool finished_ = false;
  Status error_;
};

}  // namespace petrel::vk
