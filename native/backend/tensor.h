// A Tensor names backend memory (docs/EXECUTION.md#the-model): an opaque storage handle and a
// byte offset into it, an element type and a shape with a stride per dimension. The CPU
// backend's storage is a host address; a device backend's is one of its buffers, so model code
// never reads a tensor's values, it only hands tensors to operations. Strides make views free:
// the q/k/v columns of the DeltaNet conv output, the per-head [q_h | gate_h] rows of the gated
// attention projection and the kept rows of the last layer are tensors over the same memory.
//
// Shapes are in ggml order: ne[0] is the row length and rows are contiguous (nb[0] is the element
// size); nb[1..3] are the bytes between neighbours along the other dimensions. Activations are
// {width, n_tokens}, or {head_dim, n_heads, n_tokens} where an operation works per head.
#pragma once

#include <cstdint>
#include <utility>

#include "quant/ggml_type.h"

namespace petrel {

// Bytes of one element of a tensor type (F32, F16, BF16, I32); 0 for block-quantized types,
// which only weights have.
inline uint64_t tensor_element_bytes(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::I32: return 4;
    case GgmlType::F16: case GgmlType::BF16: return 2;
    default: return 0;
  }
}

struct Tensor {
  void* storage = nullptr;  // the backend's memory; null: no tensor (an optional input left out)
  uint64_t offset = 0;      // bytes from the start of storage to element 0
  GgmlType type = GgmlType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  uint64_t nb[4] = {0, 0, 0, 0};

  // A contiguous tensor of this type and shape, not yet bound to memory: what Backend::allocate
  // and the other memory functions take as the description of the tensor they make.
  static Tensor contiguous(GgmlType type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1, int64_t ne3 = 1) {
    Tensor t;
    t.type = type;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = ne3;
    t.nb[0] = tensor_element_bytes(type);
    for (int d = 1; d < 4; ++d) t.nb[d] = t.nb[d - 1] * static_cast<uint64_t>(t.ne[d - 1]);
    return t;
  }

  bool empty() const { return storage == nullptr; }
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  // Bytes from element 0 to one past the last element.
  uint64_t span_bytes() const {
    if (n_elements() == 0) return 0;
    uint64_t last = 0;
    for (int d = 0; d < 4; ++d) last += static_cast<uint64_t>(ne[d] - 1) * nb[d];
    return last + nb[0];
  }
  bool is_contiguous() const {
    uint64_t expect = tensor_element_bytes(type);
    for (int d = 0; d < 4; ++d) {
      if (ne[d] > 1 && nb[d] != expect) return false;
      expect *= static_cast<uint64_t>(ne[d]);
    }
    return true;
  }
  bool same_shape(const Tensor& o) const {
    return ne[0] == o.ne[0] && ne[1] == o.ne[1] && ne[2] == o.ne[2] && ne[3] == o.ne[3];
  }
  // Byte offset of row (i1, i2, i3) from storage.
  uint64_t row_offset(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
    return offset + static_cast<uint64_t>(i1) * nb[1] + static_cast<uint64_t>(i2) * nb[2] +
           static_cast<uint64_t>(i3) * nb[3];
  }

  // Elements [first, first + n) along dimension dim; the rest of the shape and the strides stay.
  Tensor slice(int dim, int64_t first, int64_t n) const {
    Tensor t = *this;
    t.offset += static_cast<uint64_t>(first) * nb[dim];
    t.ne[dim] = n;
    return t;
  }
  // The same elements in another shape (a contiguous tensor only).
  Tensor reshape(int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1, int64_t ne3 = 1) const {
    Tensor t = contiguous(type, ne0, ne1, ne2, ne3);
    t.storage = storage;
    t.offset = offset;
    return t;
  }
  // Dimension 0 cut into rows of n0 (ne[0] / n0 of them), the other dimensions moved up one
  // (ne[3] must be 1): {conv_dim, n} sliced to a head group becomes {d_k, n_heads, n}.
  Tensor split0(int64_t n0) const {
    Tensor t = *this;
    t.ne[3] = ne[2];
    t.nb[3] = nb[2];
    t.ne[2] = ne[1];
    t.nb[2] = nb[1];
    t.ne[1] = ne[0] / n0;
    t.nb[1] = static_cast<uint64_t>(n0) * nb[0];
    t.ne[0] = n0;
    return t;
  }
};

class Backend;

// Backend memory holding one contiguous tensor (Backend::allocate), handed back to the backend
// when the buffer goes; move-only. The backend must outlive its buffers.
class TensorBuffer {
 public:
  TensorBuffer() = default;
  TensorBuffer(Backend* owner, const Tensor& t) : owner_(owner), tensor_(t) {}
  TensorBuffer(TensorBuffer&& o) noexcept
      : owner_(std::exchange(o.owner_, nullptr)), tensor_(std::exchange(o.tensor_, Tensor{})) {}
  TensorBuffer& operator=(TensorBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      owner_ = std::exchange(o.owner_, nullptr);
      tensor_ = std::exchange(o.tensor_, Tensor{});
    }
    return *this;
  }
  TensorBuffer(const TensorBuffer&) = delete;
  TensorBuffer& operator=(const TensorBuffer&) = delete;
  ~TensorBuffer() { reset(); }

  const Tensor& tensor() const { return tensor_; }
  int64_t n_elements() const { return owner_ != nullptr ? tensor_.n_elements() : 0; }
  // The first elements of the buffer as a contiguous tensor of another shape: workspace buffers
  // are planned for the widest use and viewed per use. An empty tensor when the shape does not
  // fit (a planning error, which the operations then refuse).
  Tensor view(int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1, int64_t ne3 = 1) const {
    if (ne0 * ne1 * ne2 * ne3 > n_elements()) return Tensor{};
    return tensor_.reshape(ne0, ne1, ne2, ne3);
  }
  void reset();  // defined in backend.h (it needs the Backend)

 private:
  Backend* owner_ = nullptr;
  Tensor tensor_;
};

}  // namespace petrel
