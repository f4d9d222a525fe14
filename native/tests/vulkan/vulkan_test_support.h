// Shared by the Vulkan tests: one device for the whole run, device buffers from host data, random
// data and the float64 comparison. The tests run on whatever device Vulkan finds (lavapipe in CI)
// with the validation layer on (ctest sets PETREL_VULKAN_VALIDATE); each test also fails on a
// validation message. A machine without a Vulkan device fails them: the target is only built
// where Vulkan is installed, and CI installs lavapipe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/vk_buffer.h"
#include "backend/vulkan/vk_context.h"
#include "backend/vulkan/vk_ops.h"
#include "backend/vulkan/vk_recording.h"
#include "tests/test.h"

namespace petrel::vk::testing {

using test::Rng;

struct Device {
  std::unique_ptr<VulkanContext> ctx;
  std::unique_ptr<VulkanOps> ops;
  Status status;
};

// One device for the whole run (creating an instance per test would dominate the run time).
inline Device& device() {
  static Device d = [] {
    Device dev;
    dev.status = VulkanContext::create(&dev.ctx);
    if (dev.status.ok()) dev.status = VulkanOps::create(*dev.ctx, &dev.ops);
    if (dev.status.ok()) {
      const DeviceInfo& i = dev.ctx->info();
      std::printf("vulkan device: %s (subgroup %u, binding range %llu, validation %s)\n", i.name.c_str(),
                  i.subgroup_size, static_cast<unsigned long long>(i.max_storage_buffer_range),
                  dev.ctx->validating() ? "on" : "off");
    } else {
      std::fprintf(stderr, "%s\n", dev.status.message().c_str());
    }
    return dev;
  }();
  return d;
}

#define NEED_DEVICE()                        \
  Device& dev = device();                    \
  PETREL_CHECK(dev.status.ok());             \
  if (!dev.status.ok()) return;              \
  const int validation_before = dev.ctx->validation_messages()

#define CHECK_NO_VALIDATION_MESSAGES() PETREL_CHECK_EQ(dev.ctx->validation_messages(), validation_before)

// A device buffer holding `values`, and room for the result.
inline std::unique_ptr<Buffer> device_buffer(VulkanContext& ctx, const void* data, uint64_t bytes) {
  std::unique_ptr<Buffer> b;
  if (!Buffer::create(ctx, bytes, MemoryKind::device, &b).ok()) return nullptr;
  if (data != nullptr && !upload(ctx, *b, 0, data, bytes).ok()) return nullptr;
  return b;
}

inline std::vector<float> random_floats(Rng& rng, size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

// |a - b| within rel * max(1, |b|) for every element; reports the first miss.
inline bool close(const std::vector<float>& got, const std::vector<double>& want, double rel) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= rel * std::max(1.0, std::fabs(want[i])))) {
      std::fprintf(stderr, "  element %zu: got %.9g, want %.9g\n", i, got[i], want[i]);
      return false;
    }
  }
  return true;
}

inline // A CPU tensor over host floats: {ne0, ne1, ne2} from `offset` floats in, strides s1, s2 in floats.
Tensor host_view(CpuBackend& cpu, std::vector<float>& host, int64_t offset, int64_t ne0, int64_t ne1, int64_t ne2,
                 int64_t s1, int64_t s2) {
  Tensor t = cpu.wrap_host(host.data(), Tensor::contiguous(GgmlType::F32, ne0, ne1, ne2));
  t.offset = static_cast<uint64_t>(offset) * 4;
  t.nb[1] = static_cast<uint64_t>(s1) * 4;
  t.nb[2] = static_cast<uint64_t>(s2) * 4;
  t.nb[3] = t.nb[2] * static_cast<uint64_t>(ne2);
  return t;
}

}  // namespace petrel::vk::testing
