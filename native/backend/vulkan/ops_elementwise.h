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

// The rows of a float operand {ne0, ne1, ne2} read through strides: row r = i1 + ne1 * i2, of ne0
// floats, starts at i1 * s1 + i2 * s2 floats from the span's start (a view such as attention's
// q heads: rows of head_dim with s1 = 2 head_dim). ne0 = 0: packed rows, the default.
struct RowLayout {
  int64_t ne0 = 0;
  int64_t ne1 = 1;
  Strides3 strides;
};

// y[r] = x[r] * w / sqrt(mean(x[r]^2) + eps) for n_rows rows of n_cols floats; w empty: no
// scaling. x's rows as x_layout says (its ne0 0 or n_cols; n_rows a multiple of its ne1), y's
// packed; y may be x's memory when x is packed.
Status rms_norm(VulkanOps& ops, Recording& rec, DeviceSpan x, DeviceSpan w, DeviceSpan y, int64_t n_rows,
                int64_t n_cols, float eps, RowLayout x_layout = {});
// y[i] = act(gate[i]) * x[i] for n floats, element i of gate at column i % ne0 of row i / ne0 of
// gate_layout (n a multiple of its ne0 and of ne0 * ne1); x and y packed. y may be x's memory,
// or gate's when gate is packed.
Status gate_mul(VulkanOps& ops, Recording& rec, GateActivation act, DeviceSpan gate, DeviceSpan x, DeviceSpan y,
                int64_t n, RowLayout gate_layout = {});
// y[i] = a[i] + b[i] for n floats; y may be a's or b's memory.
Status add(VulkanOps& ops, Recording& rec, DeviceSpan a, DeviceSpan b, DeviceSpan y, int64_t n);

}  // namespace petrel::vk
