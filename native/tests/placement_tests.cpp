// The offload placement planner (offload/placement.h): layers and head go to the device in order
// while they fit, then the staging slots of streaming prefill when they fit, the expert cache
// gets whole experts from what is left, and nothing goes past the budget minus the reserve.
#include "offload/placement.h"
#include "tests/test.h"

namespace petrel {
namespace {

offload::PlacementInput three_layers() {
  offload::PlacementInput in;
  in.items = {{"layer 0", 100, 10}, {"layer 1", 100, 10}, {"layer 2", 100, 10}, {"output head", 50, 0}};
  in.expert_bytes = 20;
  in.n_experts = 12;
  in.reserve = 5;
  return in;
}

PETREL_TEST(placement_everything_dense_first_then_whole_experts) {
  offload::PlacementInput in = three_layers();
  // The reserve, the dense part (3 x (100 + 10) + 50 = 380), three experts and 19 bytes too few for a fourth.
  in.vram_budget = 5 + 380 + 3 * 20 + 19;
  const offload::PlacementPlan plan = offload::plan_placement(in);
  PETREL_CHECK(plan.all_dense_on_device());
  PETREL_CHECK_EQ(plan.device_weights, 350u);
  PETREL_CHECK_EQ(plan.device_state, 30u);
  PETREL_CHECK_EQ(plan.expert_slots, 3);
  PETREL_CHECK_EQ(plan.expert_cache_bytes, 60u);
  PETREL_CHECK(!plan.all_experts_resident);
  PETREL_CHECK(plan.device_weights + plan.device_state + plan.expert_cache_bytes + in.reserve <= in.vram_budget);
}

PETREL_TEST(placement_never_more_slots_than_experts) {
  offload::PlacementInput in = three_layers();
  in.vram_budget = 1ull << 40;
  const offload::PlacementPlan plan = offload::plan_placement(in);
  PETREL_CHECK_EQ(plan.expert_slots, 12);
  PETREL_CHECK(plan.all_experts_resident);
}

PETREL_TEST(placement_layers_in_order_until_one_does_not_fit_and_then_no_expert_cache) {
  offload::PlacementInput in = three_layers();
  in.vram_budget = 5 + 110 + 110 + 50;  // two layers; the third (110) does not fit, the head would
  const offload::PlacementPlan plan = offload::plan_placement(in);
  PETREL_CHECK_EQ(plan.items_on_device, 2);
  PETREL_CHECK(plan.on_device[0] && plan.on_device[1] && !plan.on_device[2] && !plan.on_device[3]);
  PETREL_CHECK_EQ(plan.expert_slots, 0);
  PETREL_CHECK(!plan.all_dense_on_device());
}

PETREL_TEST(placement_staging_slots_come_before_the_cache_and_go_when_they_do_not_fit) {
  offload::PlacementInput in = three_layers();
  in.staging_experts = 4;  // 80 bytes
  in.vram_budget = 5 + 380 + 80 + 2 * 20;
  offload::PlacementPlan plan = offload::plan_placement(in);
  PETREL_CHECK_EQ(plan.staging_slots, 4);
  PETREL_CHECK_EQ(plan.expert_slots, 2);
  in.vram_budget = 5 + 380 + 79;  // one byte short of the staging slots: streaming is off, the cache gets it all
  plan = offload::plan_placement(in);
  PETREL_CHECK_EQ(plan.staging_slots, 0);
  PETREL_CHECK_EQ(plan.expert_slots, 3);
}

PETREL_TEST(placement_budget_below_the_reserve_places_nothing) {
  offload::PlacementInput in = three_layers();
  in.vram_budget = 4;
  const offload::PlacementPlan plan = offload::plan_placement(in);
  PETREL_CHECK_EQ(plan.items_on_device, 0);
  PETREL_CHECK_EQ(plan.expert_slots, 0);
  PETREL_CHECK_EQ(plan.device_weights, 0u);
}

}  // namespace
}  // namespace petrel
