// Embedding lookup (get_rows) against the reference-dequantized rows, for every weight type; ids
// on the device, so that a recording replays with new ids.
#include <cstring>

#include "backend/vulkan/ops_matmul.h"
#include "tests/vulkan/weight_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

// Row ids[i] of c for each i, zeros for an id outside the table.
std::vector<double> rows_of(const WeightCase& c, const std::vector<int32_t>& ids) {
  std::vector<double> want(ids.size() * static_cast<size_t>(c.cols), 0.0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= c.rows) continue;
    for (int64_t k = 0; k < c.cols; ++k) want[i * c.cols + k] = c.values[ids[i] * c.cols + k];
  }
  return want;
}

// The decoded values equal the reference's but for K-quant values (scale * q - min), where a fused
// multiply-add may round once instead of twice.
constexpr double kDecodeTolerance = 1e-6;

struct Lookup {
  std::unique_ptr<Buffer> table, ids, out;
  std::unique_ptr<Recording> rec;
  size_t commands = 0;
};

// A recorded get_rows of n ids over c: the table 4 bytes into its buffer, the ids 4 bytes into
// theirs (below the binding alignment), the output 8 bytes into its own.
bool record_lookup(Device& dev, const WeightCase& c, int64_t n, Lookup* l) {
  l->table = buffer_at(*dev.ctx, c.bytes.data(), c.bytes.size(), 4);
  l->ids = buffer_at(*dev.ctx, nullptr, static_cast<size_t>(n) * 4, 4);
  l->out = buffer_at(*dev.ctx, nullptr, static_cast<size_t>(n * c.cols) * 4, 8);
  if (!(l->table && l->ids && l->out && Recording::create(*dev.ctx, &l->rec).ok())) return false;
  const Status st = get_rows(*dev.ops, *l->rec, c.type, {l->table.get(), 4, c.bytes.size()}, c.rows, c.cols,
                             {l->ids.get(), 4, static_cast<uint64_t>(n) * 4}, n,
                             {l->out.get(), 8, static_cast<uint64_t>(n * c.cols) * 4});
  if (!st.ok()) std::fprintf(stderr, "  %s\n", st.message().c_str());
  l->commands = l->rec->commands();
  return st.ok() && l->rec->finish().ok();
}

// Writes ids, runs the recording and checks its output.
bool lookup_matches(Device& dev, Lookup& l, const WeightCase& c, const std::vector<int32_t>& ids) {
  if (!upload(*dev.ctx, *l.ids, 4, ids.data(), ids.size() * 4).ok() || !l.rec->run().ok()) return false;
  const auto got = read_floats(dev, *l.out, ids.size() * static_cast<size_t>(c.cols), 8);
  if (close(got, rows_of(c, ids), kDecodeTolerance)) return true;
  std::fprintf(stderr, "  %s, %lld x %lld\n", type_name(c.type).c_str(), static_cast<long long>(c.rows),
               static_cast<long long>(c.cols));
  return false;
}

PETREL_TEST(vulkan_get_rows_matches_reference_for_each_type) {
  NEED_DEVICE();
  Rng rng(9);
  // Partial float units, rows starting inside a word (weight_shapes).
  for (const TypeShape& shape : weight_shapes()) {
    const WeightCase c = weight_case(rng, shape.type, 37, shape.cols);
    Lookup l;
    PETREL_CHECK(record_lookup(dev, c, 5, &l));
    PETREL_CHECK(lookup_matches(dev, l, c, {5, 0, 36, 5, 17}));  // a repeat, the first and the last row
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

// One recording, run with new ids written between runs (a decode step's token), over a table
// split across bindings, with ids outside the table.
PETREL_TEST(vulkan_get_rows_replays_new_ids_over_a_split_table) {
  NEED_DEVICE();
  Rng rng(10);
  const uint64_t saved = dev.ops->max_binding_bytes();
  // 19 rows per binding, 3 bindings: of 210-byte Q6_K rows; of 66-byte rows of 22-byte Q5_0
  // blocks, the second binding starting inside a word.
  for (const TypeShape shape : {TypeShape{GgmlType::Q6_K, 256}, TypeShape{GgmlType::Q5_0, 96}}) {
    const WeightCase c = weight_case(rng, shape.type, 50, shape.cols);
    dev.ops->set_max_binding_bytes(binding_for_rows(dev, 19, c.row_bytes()));
    Lookup l;
    PETREL_CHECK(record_lookup(dev, c, 3, &l));
    dev.ops->set_max_binding_bytes(saved);
    PETREL_CHECK_EQ(l.commands, 3u);
    PETREL_CHECK(lookup_matches(dev, l, c, {0, 19, 49}));
    PETREL_CHECK(lookup_matches(dev, l, c, {37, -1, 18}));
    PETREL_CHECK(lookup_matches(dev, l, c, {50, 20, 20}));
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
