// A recording: a list of dispatches and copies, encoded once into a command buffer by finish()
// and run any number of times. This is how a decode step runs without per-token host work:
// everything a step varies (the token id, its position) is read by the shaders from device
// buffers, so the same recording replays for every token with no allocation and no descriptor
// update. The commands are kept as data until finish(), so a backend can build a step's list,
// find that an earlier finished recording holds the same commands, and run that one instead.
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
  // Several ranges from src to dst in one command (a strided tensor's rows); the ranges must not
  // overlap in dst.
  void copy(const Buffer& src, Buffer& dst, const std::vector<VkBufferCopy>& regions);
  // dst[offset, offset + bytes) = `value` repeated (bytes a multiple of 4).
  void fill(Buffer& dst, uint64_t offset, uint64_t bytes, uint32_t value);

  // Ends the recording: encodes the commands into a command buffer (descriptor sets written once
  // here) and returns the first error of any append, or ok.
  Status finish();
  // Submits the finished recording and waits for it.
  Status run();

  size_t commands() const { return commands_.size(); }
  // The first error of an append so far (an append after one is ignored), or ok.
  const Status& status() const { return error_; }
  // Whether `other` holds the same commands (pipelines, bindings, push constants, sizes), so that
  // running either does the same: a backend replays a finished recording in place of an equal
  // new one and skips the encoding.
  bool same_commands(const Recording& other) const;
  // Whether any command reads or writes `buffer` (a recording must not run once one of its
  // buffers is gone).
  bool uses(const Buffer& buffer) const;

  // Profiling (call before finish()): a timestamp is written after every command, and after each
  // run() command_ms() holds the device time of each command (the time between its neighbours'
  // timestamps, so barrier waits included). Empty when the queue has no timestamps.
  void profile() { profile_ = true; }
  const std::vector<double>& command_ms() const { return command_ms_; }
  // What command i runs: the shader's name, "copy" or "fill".
  const char* command_label(size_t i) const;

 private:
  // A command as data: what finish() encodes and same_commands() compares.
  struct Command {
    enum class Kind : uint32_t { dispatch, copy, fill } kind = Kind::dispatch;
    const PipelineCache* cache = nullptr;
    const Pipeline* pipeline = nullptr;
    uint32_t n_bindings = 0;
    Binding bindings[kMaxBindings] = {};
    uint32_t push_bytes = 0;
    uint8_t push[kPushConstantBytes] = {};
    uint32_t groups[3] = {0, 0, 0};
    // copy: bindings[0] is the source buffer, bindings[1] the destination, `regions` the ranges;
    // fill: bindings[0] is the range.
    std::vector<VkBufferCopy> regions;
    uint32_t fill_value = 0;
    bool operator==(const Command& o) const;
  };

  explicit Recording(VulkanContext& ctx) : ctx_(ctx) {}
  void barrier(VkPipelineStageFlags dst_stages, VkAccessFlags dst_access);
  Status new_descriptor_set(const PipelineCache& cache, VkDescriptorSet* out);
  Status encode(const Command& c, bool first);

  VulkanContext& ctx_;
  std::vector<Command> commands_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> descriptor_pools_;
  uint32_t sets_left_in_pool_ = 0;
  bool profile_ = false;
  VkQueryPool timestamps_ = VK_NULL_HANDLE;
  double timestamp_ns_ = 0;  // nanoseconds per timestamp tick
  std::vector<double> command_ms_;
  bool finished_ = false;
  Status error_;
};

}  // namespace petrel::vk
