// The model's operations as Vulkan dispatches appended to a Recording. Operands are spans of
// device memory; nothing crosses to the host. Each function checks its shapes against the spans
// and the device's limits, and returns invalid_argument (appending nothing) when they do not fit.
//
// Binding rule: a span may start anywhere 4-byte aligned. It is bound from the device's offset
// alignment below it, and the shader gets the remainder as an element offset in its push
// constants. A weight larger than one binding may span (maxStorageBufferRange) is bound in row
// ranges, one dispatch each.
#pragma once

#include <cstdint>
#include <memory>

#include "backend/activation.h"
#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_pipeline.h"
#include "backend/vulkan/vk_recording.h"
#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel::vk {

// Bytes [offset, offset + bytes) of a buffer.
struct DeviceSpan {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

// Activation rows per matrix-vector dispatch (the shader's MAX_TOKENS).
constexpr int64_t kMatVecMaxTokens = 8;

class VulkanOps {
 public:
  static Status create(VulkanContext& ctx, std::unique_ptr<VulkanOps>* out);

  // y[r] = x[r] * w / sqrt(mean(x[r]^2) + eps) for n_rows rows of n_cols floats (rows contiguous).
  Status rms_norm(Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows, int64_t n_cols, float eps);
  // y[i] = act(gate[i]) * x[i] for n floats.
  Status gate_mul(Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y, int64_t n);
  // y[i] = a[i] + b[i] for n floats.
  Status add(Recording& rec, DeviceSpan a, DeviceSpan b, DeviceSpan y, int64_t n);
  // y[t][r] = sum_c W[r][c] x[t][c] for a weight of `rows` rows of `cols` values in `type` and
  // n_tokens (1..kMatVecMaxTokens) float rows x [n_tokens][cols]; y is [n_tokens][rows].
  // Types so far: Q4_K.
  Status mat_vec(Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
                 int64_t n_tokens, DeviceSpan y);

  // The most bytes one binding spans: the device's maxStorageBufferRange (at most 4 GiB - 1, as
  // shaders index words with 32 bits). Tests lower it to run the split-binding path on small
  // tensors.
  uint64_t max_binding_bytes() const { return max_binding_bytes_; }
  void set_max_binding_bytes(uint64_t bytes) { max_binding_bytes_ = bytes; }

 private:
  explicit VulkanOps(VulkanContext& ctx) : ctx_(ctx) {}
  // Binding of `span` plus the element offset (in 4-byte units) of its first byte inside it.
  Status bind(DeviceSpan span, Binding* out, uint32_t* word_offset) const;
  Status elementwise(Recording& rec, const char* shader, const void* push, uint32_t push_bytes, int64_t n,
                     const std::vector<Binding>& bindings);

  VulkanContext& ctx_;
  std::unique_ptr<PipelineCache> pipelines_;
  uint64_t max_binding_bytes_ = 0;
};

}  // namespace petrel::vk
