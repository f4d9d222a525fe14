// Row-wise and element-wise operations: RMS norm, gated multiply, add.
#pragma once

#include <cstdint>

#include "backend/activation.h"
#include "backend/vulkan/vk_ops.h"

namespace petrel::vk {

// Strides of a 3-D float operand {ne0, ne1, ne2} in floats: element (i0, i1, i2) is at
// i0 + i1 * s1 + i2 * s2 from the span's start. Zero strides mean packed.
struct Strides3 {
  int64_t s1 = 0;
  int64_t s2 = 0;
};

// y[r] = x[r] * w / sqrt(mean(x[r]^2) + eps) for n_rows rows of n_cols floats (rows contiguous).
Status rms_norm(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows,
                int64_t n_cols, float eps);
// y[i] = act(gate[i]) * x[i] for n floats; y may be gate's or x's memory.
Status gate_mul(VulkanOps& ops, Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y,
                int64_t n);
// y[i] = a[i] + b[i] for n floats; y may be a's or b's memory.
Status add(VulkanOps& ops, Recording& rec, DeviceSpan a, DeviceSpan b, DeviceSpan y, int64_t n);

}  // namespace petrel::vk
