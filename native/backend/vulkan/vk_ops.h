// The context every Vulkan operation records against: the device, its pipelines, and the
// binding rule. The operations themselves are free functions, one file per family
// (ops_elementwise.h, ops_matmul.h, ...), each appending dispatches to a Recording. Operands are
// spans of device memory; nothing crosses to the host. Each operation checks its shapes against
// the spans and the device's limits, and returns invalid_argument (appending nothing) when they
// do not fit, unsupported for a type it has no shader for. An error found after the first
// dispatch is appended (a later binding the device refuses) leaves part of the operation in the
// recording: a recording any operation failed on must not be run.
//
// Not thread-safe: one thread records and runs at a time (the queue and the pipeline cache are
// unsynchronised).
//
// Binding rule: a span may start anywhere 4-byte aligned. It is bound from the device's offset
// alignment below it, and the shader gets the remainder as an element offset in its push
// constants. A weight larger than one binding may span (maxStorageBufferRange) is bound in row
// ranges, one dispatch each.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_pipeline.h"
#include "backend/vulkan/vk_recording.h"
#include "petrel/status.h"

namespace petrel::vk {

// Bytes [offset, offset + bytes) of a buffer.
struct DeviceSpan {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

class VulkanOps {
 public:
  static Status create(VulkanContext& ctx, std::unique_ptr<VulkanOps>* out);

  VulkanContext& context() const { return ctx_; }
  PipelineCache& pipelines() const { return *pipelines_; }

  // Binding of `span` plus the offset (in 4-byte words) of its first byte inside the binding.
  Status bind(DeviceSpan span, Binding* out, uint32_t* word_offset) const;
  // The pipeline of `shader` with workgroup width local_size_x (see PipelineCache::get).
  Status pipeline(const char* shader, uint32_t local_size_x, const Pipeline** out,
                  const std::vector<uint32_t>& constants = {}) const;
  // `groups` workgroups laid out as x up to the device's limit, then rows of those in y (shaders
  // index with gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x and skip past the end).
  void grid(uint64_t groups, uint32_t out[3]) const;

  // The most bytes one binding spans: the device's maxStorageBufferRange (at most 4 GiB - 1, as
  // shaders index words with 32 bits). Tests lower it to run the split-binding path on small
  // tensors.
  uint64_t max_binding_bytes() const { return max_binding_bytes_; }
  void set_max_binding_bytes(uint64_t bytes) { max_binding_bytes_ = bytes; }

 private:
  explicit VulkanOps(VulkanContext& ctx) : ctx_(ctx) {}
  VulkanContext& ctx_;
  std::unique_ptr<PipelineCache> pipelines_;
  uint64_t max_binding_bytes_ = 0;
};

// invalid_argument with "vulkan: " + what.
Status bad_op(const std::string& what);

}  // namespace petrel::vk
