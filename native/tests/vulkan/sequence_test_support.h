// Shared by the sequence-model op tests (rope, conv, DeltaNet, attention, routing): device
// buffers from host vectors, read-back, and one recording appended, finished and run.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "tests/vulkan/vulkan_test_support.h"

namespace petrel::vk::testing {

// A device buffer holding `v` after `pad_bytes` of zeros (to start operands at offsets below the
// device's binding alignment); nullptr on failure.
template <typename T>
std::unique_ptr<Buffer> buffer_of(VulkanContext& ctx, const std::vector<T>& v, uint64_t pad_bytes = 0) {
  std::vector<uint8_t> bytes(pad_bytes + v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(bytes.data() + pad_bytes, v.data(), v.size() * sizeof(T));
  return device_buffer(ctx, bytes.data(), bytes.size());
}

// Bytes [offset, end) of b.
inline DeviceSpan span_of(const Buffer* b, uint64_t offset = 0) {
  return DeviceSpan{b, offset, b == nullptr ? 0 : b->size() - offset};
}

template <typename T>
std::vector<T> read_back(VulkanContext& ctx, const Buffer& b, size_t n, uint64_t offset = 0) {
  std::vector<T> v(n);
  PETREL_CHECK(download(ctx, b, offset, v.data(), n * sizeof(T)).ok());
  return v;
}

template <typename T>
void write(VulkanContext& ctx, Buffer& b, const std::vector<T>& v, uint64_t offset = 0) {
  PETREL_CHECK(upload(ctx, b, offset, v.data(), v.size() * sizeof(T)).ok());
}

// A finished recording of what `append(Recording&)` appends (it returns a Status), or nullptr
// (the failure reported).
template <typename Append>
std::unique_ptr<Recording> record(Device& dev, Append append) {
  std::unique_ptr<Recording> rec;
  if (!Recording::create(*dev.ctx, &rec).ok()) {
    PETREL_CHECK(false);
    return nullptr;
  }
  const Status s = append(*rec);
  if (!s.ok()) std::fprintf(stderr, "  %s\n", s.message().c_str());
  PETREL_CHECK(s.ok());
  const Status f = rec->finish();
  PETREL_CHECK(f.ok());
  if (!s.ok() || !f.ok()) return nullptr;
  return rec;
}

inline bool run(std::unique_ptr<Recording>& rec) {
  const bool ok = rec != nullptr && rec->run().ok();
  PETREL_CHECK(ok);
  return ok;
}

inline std::vector<double> as_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

}  // namespace petrel::vk::testing
