#include "backend/vulkan/vk_ops.h"

#include <algorithm>

namespace petrel::vk {

Status bad_op(const std::string& what) { return Status(StatusCode::invalid_argument, "vulkan: " + what); }

Status VulkanOps::create(VulkanContext& ctx, std::unique_ptr<VulkanOps>* out) {
  std::unique_ptr<VulkanOps> ops(new VulkanOps(ctx));
  PETREL_RETURN_IF_ERROR(PipelineCache::create(ctx, &ops->pipelines_));
  ops->max_binding_bytes_ = std::min<uint64_t>(ctx.info().max_storage_buffer_range, UINT32_MAX);
  *out = std::move(ops);
  return Status::ok_status();
}

Status VulkanOps::bind(DeviceSpan span, Binding* out, uint32_t* word_offset) const {
  if (span.buffer == nullptr || span.bytes == 0 || span.offset % 4 != 0 || span.offset > span.buffer->size() ||
      span.bytes > span.buffer->size() - span.offset) {
    return bad_op("an operand span is empty, not 4-byte aligned or outside its buffer");
  }
  const uint64_t align = std::max<uint64_t>(ctx_.info().min_storage_buffer_offset_alignment, 4);
  const uint64_t start = span.offset / align * align;
  const uint64_t range = span.offset + span.bytes - start;
  if (range > max_binding_bytes_) {
    return bad_op("an operand of " + std::to_string(span.bytes) + " bytes is larger than one binding may be (" +
                  std::to_string(max_binding_bytes_) + ")");
  }
  *out = Binding{span.buffer, start, range};
  *word_offset = static_cast<uint32_t>((span.offset - start) / 4);
  return Status::ok_status();
}

Status VulkanOps::pipeline(const char* shader, uint32_t local_size_x, const Pipeline** out,
                           const std::vector<uint32_t>& constants) const {
  return pipelines_->get(shader, local_size_x, constants, out);
}

void VulkanOps::grid(uint64_t groups, uint32_t out[3]) const {
  const uint64_t max_x = ctx_.info().max_workgroup_count[0];
  out[0] = static_cast<uint32_t>(std::min<uint64_t>(groups, max_x));
  out[1] = static_cast<uint32_t>((groups + max_x - 1) / max_x);
  out[2] = 1;
}

}  // namespace petrel::vk
