// MoE expert products (mat_vec_id) against float64 products of the reference-dequantized experts,
// for every weight type; expert ids on the device, so that a recording replays with new ids.
#include "backend/vulkan/ops_matmul.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// y[t][j] = W_{ids[t][j]} x_{t,j} for stacked experts c, or zeros for an id outside the stack.
Expected expert_products(const WeightCase& c, const std::vector<int32_t>& ids, int64_t n_tokens, int64_t k,
                         const std::vector<float>& x, bool x_per_slot) {
  Expected e;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      const int32_t id = ids[static_cast<size_t>(t * k + j)];
      const float* xi = x.data() + (x_per_slot ? t * k + j : t) * c.cols;
      const Expected one = id >= 0 && id < c.n_matrices
                               ? product(c, xi, 1, id)
                               : Expected{std::vector<double>(c.rows, 0.0), std::vector<double>(c.rows, 0.0)};
      e.y.insert(e.y.end(), one.y.begin(), one.y.end());
      e.magnitude.insert(e.magnitude.end(), one.magnitude.begin(), one.magnitude.end());
    }
  }
  return e;
}

// A recorded mat_vec_id: the stack 4 bytes into its buffer, ids 4 and x 12 bytes into theirs.
struct ExpertRun {
  std::unique_ptr<Buffer> w, ids, x, y;
  std::unique_ptr<Recording> rec;
  size_t commands = 0;
};

bool record_experts(Device& dev, const WeightCase& c, int64_t n_tokens, int64_t k, const std::vector<float>& x,
                    bool x_per_slot, ExpertRun* r) {
  const size_t slots = static_cast<size_t>(n_tokens * k);
  r->w = buffer_at(*dev.ctx, c.bytes.data(), c.bytes.size(), 4);
  r->ids = buffer_at(*dev.ctx, nullptr, slots * 4, 4);
  r->x = buffer_at(*dev.ctx, x.data(), x.size() * 4, 12);
  r->y = device_buffer(*dev.ctx, nullptr, slots * static_cast<size_t>(c.rows) * 4);
  if (!(r->w && r->ids && r->x && r->y && Recording::create(*dev.ctx, &r->rec).ok())) return false;
  const Status st = mat_vec_id(*dev.ops, *r->rec, c.type, {r->w.get(), 4, c.bytes.size()}, c.rows, c.cols, c.n_matrices,
                               {r->ids.get(), 4, slots * 4}, n_tokens, k, {r->x.get(), 12, x.size() * 4}, x_per_slot,
                               {r->y.get(), 0, r->y->size()});
  if (!st.ok()) std::fprintf(stderr, "  %s\n", st.message().c_str());
  r->commands = r->rec->commands();
  return st.ok() && r->rec->finish().ok();
}

// Writes ids, runs the recording and checks y.
bool experts_match(Device& dev, ExpertRun& r, const WeightCase& c, const std::vector<int32_t>& ids, int64_t n_tokens,
                   int64_t k, const std::vector<float>& x, bool x_per_slot) {
  if (!upload(*dev.ctx, *r.ids, 4, ids.data(), ids.size() * 4).ok() || !r.rec->run().ok()) return false;
  const auto got = read_floats(dev, *r.y, ids.size() * static_cast<size_t>(c.rows));
  if (matches(got, expert_products(c, ids, n_tokens, k, x, x_per_slot))) return true;
  std::fprintf(stderr, "  %s, %lld experts of %lld x %lld, %s\n", type_name(c.type).c_str(),
               static_cast<long long>(c.n_matrices), static_cast<long long>(c.rows), static_cast<long long>(c.cols),
               x_per_slot ? "one input per slot" : "one input per token");
  return false;
}

PETREL_TEST(vulkan_mat_vec_id_matches_reference_for_each_type) {
  NEED_DEVICE();
  Rng rng(11);
  // 3 tokens x 2 slots: an expert twice in one token, one expert for several tokens, the last one.
  const std::vector<int32_t> ids{4, 1, 1, 1, 0, 3};
  for (const TypeShape& shape : weight_shapes()) {
    const int64_t cols = shape.cols;
    const WeightCase c = weight_case(rng, shape.type, 37, cols, 5);
    for (bool x_per_slot : {false, true}) {
      const auto x = random_floats(rng, static_cast<size_t>((x_per_slot ? 6 : 3) * cols));
      ExpertRun r;
      PETREL_CHECK(record_experts(dev, c, 3, 2, x, x_per_slot, &r));
      PETREL_CHECK_EQ(r.commands, 1u);
      PETREL_CHECK(experts_match(dev, r, c, ids, 3, 2, x, x_per_slot));
    }
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// One recording replayed with new ids (a decode step's routing) over a stack bound in expert
// ranges, the second starting inside a word, with ids outside the stack.
PETREL_TEST(vulkan_mat_vec_id_replays_new_ids_over_a_split_stack) {
  NEED_DEVICE();
  Rng rng(12);
  const uint64_t saved = dev.ops->max_binding_bytes();
  // 3 experts per binding: of 1998 bytes (Q4_0), of 2442 bytes (Q5_0).
  for (const GgmlType type : {GgmlType::Q4_0, GgmlType::Q5_0}) {
    const WeightCase c = weight_case(rng, type, 37, 96, 6);
    const auto x = random_floats(rng, static_cast<size_t>(2 * 3 * c.cols));
    dev.ops->set_max_binding_bytes(binding_for_rows(dev, 3 * 37, c.row_bytes()));
    ExpertRun r;
    PETREL_CHECK(record_experts(dev, c, 2, 3, x, true, &r));
    dev.ops->set_max_binding_bytes(saved);
    PETREL_CHECK_EQ(r.commands, 2u);
    PETREL_CHECK(experts_match(dev, r, c, {0, 5, 3, 2, 2, 4}, 2, 3, x, true));
    PETREL_CHECK(experts_match(dev, r, c, {1, -1, 6, 5, 3, 0}, 2, 3, x, true));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// Experts each larger than one binding: bound in row ranges of each expert.
PETREL_TEST(vulkan_mat_vec_id_splits_an_expert_larger_than_one_binding) {
  NEED_DEVICE();
  Rng rng(13);
  const uint64_t saved = dev.ops->max_binding_bytes();
  // 19 rows per binding, 3 per expert: of 210-byte Q6_K rows (8400 bytes per expert), of 110-byte
  // Q3_K rows (4400), the second range of each expert starting inside a word.
  for (const GgmlType type : {GgmlType::Q6_K, GgmlType::Q3_K}) {
    const WeightCase c = weight_case(rng, type, 40, 256, 3);
    const auto x = random_floats(rng, static_cast<size_t>(2 * c.cols));
    dev.ops->set_max_binding_bytes(binding_for_rows(dev, 19, c.row_bytes()));
    ExpertRun r;
    PETREL_CHECK(record_experts(dev, c, 2, 2, x, false, &r));
    dev.ops->set_max_binding_bytes(saved);
    PETREL_CHECK_EQ(r.commands, 9u);
    PETREL_CHECK(experts_match(dev, r, c, {2, 0, 1, 7}, 2, 2, x, false));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
