#include "offload/placement.h"

#include <algorithm>
#include <cstdio>

namespace petrel::offload {

PlacementPlan plan_placement(const PlacementInput& in) {
  PlacementPlan plan;
  plan.on_device.assign(in.items.size(), false);
  uint64_t left = in.vram_budget > in.reserve ? in.vram_budget - in.reserve : 0;
  for (size_t i = 0; i < in.items.size(); ++i) {
    const uint64_t need = in.items[i].weights + in.items[i].state;
    if (need > left) break;
    left -= need;
    plan.on_device[i] = true;
    ++plan.items_on_device;
    plan.device_weights += in.items[i].weights;
    plan.device_state += in.items[i].state;
  }
  if (plan.all_dense_on_device() && in.expert_bytes > 0) {
    const uint64_t staging = static_cast<uint64_t>(std::max<int64_t>(0, in.staging_experts)) * in.expert_bytes;
    if (staging <= left) {
      plan.staging_slots = std::max<int64_t>(0, in.staging_experts);
      left -= staging;
    }
    plan.expert_slots = std::min<int64_t>(in.n_experts, static_cast<int64_t>(left / in.expert_bytes));
    plan.expert_cache_bytes = static_cast<uint64_t>(plan.expert_slots) * in.expert_bytes;
  }
  plan.all_experts_resident = in.n_experts > 0 && plan.expert_slots == in.n_experts;
  return plan;
}

std::string describe_plan(const PlacementInput& in, const PlacementPlan& plan) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  char buf[384];
  std::snprintf(buf, sizeof buf,
                "placement: %lld of %zu parts (the layers, then the output head) on the device (weights %.2f GiB, "
                "KV/state %.2f GiB), %lld staging slots, "
                "expert cache %lld of %lld experts (%.2f GiB), budget %.2f GiB",
                static_cast<long long>(plan.items_on_device), in.items.size(), plan.device_weights / kGiB,
                plan.device_state / kGiB, static_cast<long long>(plan.staging_slots),
                static_cast<long long>(plan.expert_slots),
                static_cast<long long>(in.n_experts), plan.expert_cache_bytes / kGiB, in.vram_budget / kGiB);
  return buf;
}

}  // namespace petrel::offload
