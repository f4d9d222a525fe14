#include "backend/vulkan/ops_matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "backend/vulkan/ops_matmul_coopmat.h"
#include "backend/vulkan/ops_matmul_int8.h"

namespace petrel::vk {
namespace {

constexpr uint32_t kMatVecWorkgroup = 64;
// mul_mat.glsl's tile: BM tokens x BN weight rows, WG invocations, and its shared tiles
// (ws[BK][BN] and xs[BK][BM + 1] floats).
constexpr uint64_t kTileTokens = 64, kTileRows = 64, kTileK = 32;
constexpr uint32_t kMatMatWorkgroup = 256;
constexpr uint32_t kGetRowsWorkgroup = 64;
constexpr uint64_t kMatMatSharedBytes = (kTileK * kTileRows + kTileK * (kTileTokens + 1)) * 4;

// What the host needs of a weight type the shaders take.
struct WeightType {
  GgmlType type;
  const char* suffix;     // of the shader names: ggml's spelling of the type
  uint32_t block_values;  // values per block (1 for the float types)
  uint32_t block_bytes;
  uint32_t unit;          // values per decode_unit (dequant.glsl's UNIT)
};

constexpr WeightType kWeightTypes[] = {
    {GgmlType::F32, "f32", 1, 4, 4},           {GgmlType::F16, "f16", 1, 2, 4},
    {GgmlType::BF16, "bf16", 1, 2, 4},         {GgmlType::Q4_0, "q4_0", 32, 18, 32},
    {GgmlType::Q4_1, "q4_1", 32, 20, 32},      {GgmlType::Q5_0, "q5_0", 32, 22, 32},
    {GgmlType::Q5_1, "q5_1", 32, 24, 32},      {GgmlType::Q8_0, "q8_0", 32, 34, 32},
    {GgmlType::Q2_K, "q2_K", 256, 84, 32},     {GgmlType::Q3_K, "q3_K", 256, 110, 32},
    {GgmlType::Q4_K, "q4_K", 256, 144, 32},    {GgmlType::Q5_K, "q5_K", 256, 176, 32},
    {GgmlType::Q6_K, "q6_K", 256, 210, 32},    {GgmlType::IQ4_NL, "iq4_nl", 32, 18, 32},
    {GgmlType::IQ4_XS, "iq4_xs", 256, 136, 32},
};

const WeightType* weight_type(GgmlType type) {
  for (const WeightType& t : kWeightTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

// A weight operand's shape, checked against its span.
struct WeightShape {
  const WeightType* type = nullptr;
  uint64_t rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  uint64_t units = 0;  // decode units per row
};

Status check_weight(const std::string& op, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                    int64_t n_matrices, WeightShape* out) {
  const WeightType* t = weight_type(type);
  if (t == nullptr) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
    return Status(StatusCode::unsupported,
                  "vulkan: no " + op + " shader for " + (info != nullptr ? info->name : "this type"));
  }
  if (rows <= 0 || cols <= 0 || n_matrices <= 0 || cols % t->block_values != 0) {
    return bad_op(op + ": " + t->suffix + " rows must be a positive number of " + std::to_string(t->block_values) +
                  "-value blocks");
  }
  // The shaders index rows, columns and bytes inside one binding with 32 bits.
  if (rows > UINT32_MAX || cols > UINT32_MAX / 4 || n_matrices > UINT32_MAX) return bad_op(op + ": weight too large");
  WeightShape s{t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), 0, 0};
  s.row_bytes = s.cols / t->block_values * t->block_bytes;
  s.units = (s.cols + t->unit - 1) / t->unit;
  if (w.buffer == nullptr || w.bytes / s.row_bytes / s.rows < static_cast<uint64_t>(n_matrices)) {
    return bad_op(op + ": weight span smaller than its shape");
  }
  *out = s;
  return Status::ok_status();
}

// Weight rows one binding holds, leaving room for the alignment below the first row's word and
// the word the last row ends in.
Status rows_per_binding(const VulkanOps& ops, const std::string& op, uint64_t row_bytes, uint64_t* out) {
  const uint64_t slack = std::max<uint64_t>(ops.context().info().min_storage_buffer_offset_alignment, 4) + 8;
  if (ops.max_binding_bytes() < slack + row_bytes) return bad_op(op + ": one weight row is larger than a binding");
  *out = (ops.max_binding_bytes() - slack) / row_bytes;
  return Status::ok_status();
}

// Binds bytes [first, first + bytes) of `buffer` from the word at or below `first` (the binding
// rule takes 4-byte-aligned spans, and rows of 18-, 22-, 34-, 110- and 210-byte blocks or of
// 16-bit values may start inside a word) to the end of the word holding the last byte, where the
// buffer has it (the shaders read whole words). *byte_offset: where `first` lies inside the binding.
Status bind_bytes(const VulkanOps& ops, const Buffer* buffer, uint64_t first, uint64_t bytes, Binding* b,
                  uint32_t* byte_offset) {
  const uint64_t start = first / 4 * 4;
  const uint64_t end = std::min<uint64_t>((first + bytes + 3) / 4 * 4, std::max(buffer->size(), first + bytes));
  uint32_t words = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{buffer, start, end - start}, b, &words));
  *byte_offset = words * 4 + static_cast<uint32_t>(first - start);
  return Status::ok_status();
}

std::string shader_name(const char* op, const WeightType& t) { return std::string(op) + "_" + t.suffix; }

// Invocations per weight row of the matrix-vector shaders: a power of two up to the workgroup,
// leaving each invocation at least two units where the row has them (fewer invocations per row
// means more rows per workgroup, not idle invocations).
uint32_t threads_per_row(uint64_t units) {
  uint32_t t = 1;
  while (t * 2 <= kMatVecWorkgroup && t * 4 <= units) t *= 2;
  return t;
}

// The weight's rows in ranges of rows_per_bind, one dispatch each, for mat_vec and mat_mat (the
// same bindings and push constants; `groups_for(n)` sizes the grid of an n-row range).
template <typename GroupsFor>
Status dispatch_row_ranges(VulkanOps& ops, Recording& rec, const Pipeline& p, const WeightShape& s, DeviceSpan w,
                           DeviceSpan x, DeviceSpan y, uint64_t nt, uint64_t rows_per_bind, GroupsFor groups_for) {
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, row_bytes, x_offset, x_stride, y_offset, y_stride;
  } push{static_cast<uint32_t>(s.cols), 0, static_cast<uint32_t>(nt), 0, static_cast<uint32_t>(s.row_bytes),
         0, static_cast<uint32_t>(s.cols), 0, static_cast<uint32_t>(s.rows)};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[1], &push.x_offset));
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &y_base));
  for (uint64_t r0 = 0; r0 < s.rows; r0 += rows_per_bind) {
    const uint64_t n = std::min(rows_per_bind, s.rows - r0);
    PETREL_RETURN_IF_ERROR(bind_bytes(ops, w.buffer, w.offset + r0 * s.row_bytes, n * s.row_bytes, &b[0], &push.w_offset));
    push.n_rows = static_cast<uint32_t>(n);
    push.y_offset = y_base + static_cast<uint32_t>(r0);
    uint32_t groups[3];
    groups_for(n, groups);
    rec.dispatch(ops.pipelines(), p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace

bool matmul_supports(GgmlType type) { return weight_type(type) != nullptr; }

Status mat_vec(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y) {
  WeightShape s;
  PETREL_RETURN_IF_ERROR(check_weight("mat_vec", type, w, rows, cols, 1, &s));
  if (n_tokens < 1 || n_tokens > kMatVecMaxTokens) {
    return bad_op("mat_vec takes 1.." + std::to_string(kMatVecMaxTokens) + " tokens");
  }
  const uint64_t nt = static_cast<uint64_t>(n_tokens);
  if (x.bytes < s.cols * 4 * nt || y.bytes < s.rows * 4 * nt) return bad_op("mat_vec operands smaller than their shape");
  const uint32_t tpr = threads_per_row(s.units);
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(shader_name("mul_mat_vec", *s.type).c_str(), kMatVecWorkgroup, &p, {tpr}));
  uint64_t rows_per_bind = 0;
  PETREL_RETURN_IF_ERROR(rows_per_binding(ops, "mat_vec", s.row_bytes, &rows_per_bind));
  const uint32_t rows_per_group = kMatVecWorkgroup / tpr;
  return dispatch_row_ranges(ops, rec, *p, s, w, x, y, nt, rows_per_bind, [&](uint64_t n, uint32_t groups[3]) {
    ops.grid((n + rows_per_group - 1) / rows_per_group, groups);
  });
}

Status mat_mat(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
               int64_t n_tokens, DeviceSpan y) {
  WeightShape s;
  PETREL_RETURN_IF_ERROR(check_weight("mat_mat", type, w, rows, cols, 1, &s));
  if (n_tokens < 1 || n_tokens > UINT32_MAX) return bad_op("mat_mat of no tokens");
  const uint64_t nt = static_cast<uint64_t>(n_tokens);
  if (x.bytes / 4 / s.cols < nt || y.bytes / 4 / s.rows < nt) return bad_op("mat_mat operands smaller than their shape");
  const DeviceInfo& info = ops.context().info();
  if (info.max_shared_memory < kMatMatSharedBytes) {
    return Status(StatusCode::unsupported, "vulkan: mat_mat needs " + std::to_string(kMatMatSharedBytes) +
                                               " bytes of shared memory, the device has " +
                                               std::to_string(info.max_shared_memory));
  }
  const uint64_t token_tiles = (nt + kTileTokens - 1) / kTileTokens;
  if (token_tiles > info.max_workgroup_count[1]) return bad_op("mat_mat of too many tokens");
  // The seam for a cooperative-matrix variant: the same tiles, bindings and push constants under
  // another shader name, chosen here from the device's features.
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(shader_name("mul_mat", *s.type).c_str(), kMatMatWorkgroup, &p));
  uint64_t rows_per_bind = 0;
  PETREL_RETURN_IF_ERROR(rows_per_binding(ops, "mat_mat", s.row_bytes, &rows_per_bind));
  rows_per_bind = std::min<uint64_t>(rows_per_bind, uint64_t{info.max_workgroup_count[0]} * kTileRows);
  return dispatch_row_ranges(ops, rec, *p, s, w, x, y, nt, rows_per_bind, [&](uint64_t n, uint32_t groups[3]) {
    groups[0] = static_cast<uint32_t>((n + kTileRows - 1) / kTileRows);
    groups[1] = static_cast<uint32_t>(token_tiles);
    groups[2] = 1;
  });
}

uint64_t matmul_scratch_bytes(const VulkanOps& ops, GgmlType type, int64_t cols, int64_t n_tokens) {
  if (n_tokens < 1 || n_tokens > kMatVecMaxTokens || !mat_vec_int8_supports(ops.context(), type)) return 0;
  return q8_1_bytes(cols, n_tokens);
}

Status matmul_with_scratch(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                           DeviceSpan x, int64_t n_tokens, DeviceSpan y, DeviceSpan scratch) {
  const uint64_t scratch_bytes = matmul_scratch_bytes(ops, type, cols, n_tokens);
  if (scratch_bytes > 0 && scratch.buffer != nullptr && scratch.bytes >= scratch_bytes) {
    return mat_vec_int8(ops, rec, type, w, rows, cols, x, n_tokens, y, scratch);
  }
  return matmul(ops, rec, type, w, rows, cols, x, n_tokens, y);
}

Status matmul(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols, DeviceSpan x,
              int64_t n_tokens, DeviceSpan y) {
  if (n_tokens >= 1 && n_tokens <= kMatVecMaxTokens) return mat_vec(ops, rec, type, w, rows, cols, x, n_tokens, y);
  // Prefill on NV cooperative matrices where the device has them (ops_matmul_coopmat.h), for
  // quantized weights only: the tiles are fp16, which would cost float weights (F32, F16, BF16)
  // the precision they were kept in for, and BF16 its range.
  const bool float_weights = type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
  if (n_tokens > kMatVecMaxTokens && !float_weights && mat_mat_coopmat_supports(ops.context(), type)) {
    return mat_mat_coopmat(ops, rec, type, w, rows, cols, x, n_tokens, y);
  }
  return mat_mat(ops, rec, type, w, rows, cols, x, n_tokens, y);
}

Status mat_vec_id(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                  int64_t n_expert, DeviceSpan ids, int64_t n_tokens, int64_t k, DeviceSpan x, bool x_per_slot,
                  DeviceSpan y) {
  WeightShape s;
  PETREL_RETURN_IF_ERROR(check_weight("mat_vec_id", type, w, rows, cols, n_expert, &s));
  const DeviceInfo& info = ops.context().info();
  if (n_tokens < 1 || k < 1 || static_cast<uint64_t>(n_tokens) * static_cast<uint64_t>(k) > info.max_workgroup_count[1]) {
    return bad_op("mat_vec_id takes 1.." + std::to_string(info.max_workgroup_count[1]) + " (token, slot) pairs");
  }
  const uint64_t slots = static_cast<uint64_t>(n_tokens) * static_cast<uint64_t>(k);
  const uint64_t inputs = x_per_slot ? slots : static_cast<uint64_t>(n_tokens);
  if (ids.bytes / 4 < slots || x.bytes / 4 / s.cols < inputs || y.bytes / 4 / s.rows < slots) {
    return bad_op("mat_vec_id operands smaller than their shape");
  }
  const uint32_t tpr = threads_per_row(s.units);
  const uint64_t rows_per_group = kMatVecWorkgroup / tpr;
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(shader_name("mul_mat_vec_id", *s.type).c_str(), kMatVecWorkgroup, &p, {tpr}));
  uint64_t rows_per_bind = 0;
  PETREL_RETURN_IF_ERROR(rows_per_binding(ops, "mat_vec_id", s.row_bytes, &rows_per_bind));
  rows_per_bind = std::min<uint64_t>(rows_per_bind, uint64_t{info.max_workgroup_count[0]} * rows_per_group);
  const uint64_t expert_bytes = s.rows * s.row_bytes;
  // Whole experts per binding when one fits (the usual case: one dispatch for the whole stack on
  // a device that binds 4 GiB), else row ranges of one expert per binding.
  const uint64_t experts_per_bind = s.rows <= rows_per_bind ? rows_per_bind / s.rows : 0;
  std::vector<Binding> b(4);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, row_bytes, x_offset, x_stride, y_offset, y_stride;
    uint32_t ids_offset, k, x_slot_stride, expert_bytes, e0, e1, n_expert;
  } push{static_cast<uint32_t>(s.cols), 0, static_cast<uint32_t>(n_tokens), 0, static_cast<uint32_t>(s.row_bytes),
         0, static_cast<uint32_t>(x_per_slot ? s.cols * static_cast<uint64_t>(k) : s.cols), 0,
         static_cast<uint32_t>(s.rows), 0, static_cast<uint32_t>(k), static_cast<uint32_t>(x_per_slot ? s.cols : 0),
         0, 0, 0, static_cast<uint32_t>(n_expert)};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[1], &push.x_offset));
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &y_base));
  PETREL_RETURN_IF_ERROR(ops.bind(ids, &b[3], &push.ids_offset));
  const uint64_t ne = static_cast<uint64_t>(n_expert);
  const uint64_t experts_per_dispatch = experts_per_bind > 0 ? experts_per_bind : 1;
  const uint64_t rows_per_dispatch = experts_per_bind > 0 ? s.rows : rows_per_bind;
  for (uint64_t e0 = 0; e0 < ne; e0 += experts_per_dispatch) {
    const uint64_t e1 = std::min(ne, e0 + experts_per_dispatch);
    for (uint64_t r0 = 0; r0 < s.rows; r0 += rows_per_dispatch) {
      const uint64_t nr = std::min(rows_per_dispatch, s.rows - r0);
      const uint64_t bytes = experts_per_bind > 0 ? (e1 - e0) * expert_bytes : nr * s.row_bytes;
      PETREL_RETURN_IF_ERROR(bind_bytes(ops, w.buffer, w.offset + e0 * expert_bytes + r0 * s.row_bytes, bytes, &b[0],
                                        &push.w_offset));
      push.n_rows = static_cast<uint32_t>(nr);
      push.y_offset = y_base + static_cast<uint32_t>(r0);
      push.expert_bytes = experts_per_bind > 0 ? static_cast<uint32_t>(expert_bytes) : 0;
      push.e0 = static_cast<uint32_t>(e0);
      push.e1 = static_cast<uint32_t>(e1);
      const uint32_t groups[3] = {static_cast<uint32_t>((nr + rows_per_group - 1) / rows_per_group),
                                  static_cast<uint32_t>(slots), 1};
      rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
    }
  }
  return Status::ok_status();
}

Status get_rows(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan table, int64_t rows, int64_t cols,
                DeviceSpan ids, int64_t n, DeviceSpan out) {
  WeightShape s;
  PETREL_RETURN_IF_ERROR(check_weight("get_rows", type, table, rows, cols, 1, &s));
  if (n < 1 || n > UINT32_MAX) return bad_op("get_rows of no ids");
  const uint64_t nn = static_cast<uint64_t>(n);
  if (ids.bytes / 4 < nn || out.bytes / 4 / s.cols < nn) return bad_op("get_rows operands smaller than their shape");
  const DeviceInfo& info = ops.context().info();
  const uint64_t unit_groups = (s.units + kGetRowsWorkgroup - 1) / kGetRowsWorkgroup;
  if (unit_groups > info.max_workgroup_count[0]) return bad_op("get_rows of too long rows");
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(shader_name("get_rows", *s.type).c_str(), kGetRowsWorkgroup, &p));
  uint64_t rows_per_bind = 0;
  PETREL_RETURN_IF_ERROR(rows_per_binding(ops, "get_rows", s.row_bytes, &rows_per_bind));
  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, r0, n_rows, table_rows, w_offset, row_bytes, ids_offset, out_offset, out_stride;
  } push{static_cast<uint32_t>(s.cols), 0, 0, static_cast<uint32_t>(s.rows), 0, static_cast<uint32_t>(s.row_bytes),
         0, 0, static_cast<uint32_t>(s.cols)};
  uint32_t ids_base = 0, out_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(ids, &b[1], &ids_base));
  PETREL_RETURN_IF_ERROR(ops.bind(out, &b[2], &out_base));
  // One dispatch per (table row range, run of ids as long as the grid's y allows).
  const uint64_t ids_per_dispatch = info.max_workgroup_count[1];
  for (uint64_t r0 = 0; r0 < s.rows; r0 += rows_per_bind) {
    const uint64_t nr = std::min(rows_per_bind, s.rows - r0);
    PETREL_RETURN_IF_ERROR(bind_bytes(ops, table.buffer, table.offset + r0 * s.row_bytes, nr * s.row_bytes, &b[0],
                                      &push.w_offset));
    push.r0 = static_cast<uint32_t>(r0);
    push.n_rows = static_cast<uint32_t>(nr);
    for (uint64_t i0 = 0; i0 < nn; i0 += ids_per_dispatch) {
      push.ids_offset = ids_base + static_cast<uint32_t>(i0);
      push.out_offset = out_base + static_cast<uint32_t>(i0 * s.cols);
      const uint32_t groups[3] = {static_cast<uint32_t>(unit_groups),
                                  static_cast<uint32_t>(std::min(ids_per_dispatch, nn - i0)), 1};
      rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
    }
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
