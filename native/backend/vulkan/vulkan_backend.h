// The Vulkan implementation of Backend (backend/backend.h; docs/EXECUTION.md): tensors are ranges
// of device buffers, the weights are uploaded once by prepare_weight, and every operation,
// upload and download of a step is appended to one recording that runs when the host needs a
// result (download, sync). A step that records the same commands as an earlier one (every
// decode step: the token id and position are data in device buffers) replays that recording,
// so a decode token costs one submission, with no allocation or descriptor update.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace petrel::vk {

// Creates the backend on the device VulkanContext::create picks (PETREL_VULKAN_DEVICE), and says
// whether that device is a GPU (not a software device) and how large its largest device-local
// heap is (either pointer may be null). unsupported (with the reason) when no device is usable.
Status make_vulkan_backend(std::unique_ptr<Backend>* out, int* is_gpu = nullptr,
                           unsigned long long* memory_bytes = nullptr);

// What a Vulkan backend has run: recordings submitted, and how many of those were replays of a
// kept recording (no encoding, no descriptor writes). Zeros for another backend.
struct VulkanRunStats {
  uint64_t runs = 0;
  uint64_t replays = 0;
};
VulkanRunStats vulkan_run_stats(const Backend& backend);

}  // namespace petrel::vk
