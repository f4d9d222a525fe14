#include "backend/vulkan/ops_matmul_coopmat.h"

#include <algorithm>
#include <string>
#include <vector>

#include "backend/vulkan/ops_matmul.h"

namespace petrel::vk {
namespace {

// mul_mat_coopmat.glsl's tile: BM tokens x BN weight rows in BK-column steps, NSUB subgroups, and
// its shared tiles (fp16 xs[BM][BK + 8] and ws[BN][BK + 8], fp32 cs[BM][BN + 4]).
constexpr uint64_t kTileTokens = 64, kTileRows = 64, kTileK = 64;
constexpr uint32_t kSubgroups = 4;
constexpr uint64_t kSharedBytes = (kTileTokens + kTileRows) * (kTileK + 8) * 2 + kTileTokens * (kTileRows + 4) * 4;

struct CoopmatType {
  GgmlType type;
  const char* shader;
  uint32_t block_values, block_bytes;
};

constexpr CoopmatType kCoopmatTypes[] = {
    {GgmlType::F32, "mul_mat_coopmat_f32", 1, 4},         {GgmlType::F16, "mul_mat_coopmat_f16", 1, 2},
    {GgmlType::BF16, "mul_mat_coopmat_bf16", 1, 2},       {GgmlType::Q4_0, "mul_mat_coopmat_q4_0", 32, 18},
    {GgmlType::Q4_1, "mul_mat_coopmat_q4_1", 32, 20},     {GgmlType::Q5_0, "mul_mat_coopmat_q5_0", 32, 22},
    {GgmlType::Q5_1, "mul_mat_coopmat_q5_1", 32, 24},     {GgmlType::Q8_0, "mul_mat_coopmat_q8_0", 32, 34},
    {GgmlType::Q2_K, "mul_mat_coopmat_q2_K", 256, 84},    {GgmlType::Q3_K, "mul_mat_coopmat_q3_K", 256, 110},
    {GgmlType::Q4_K, "mul_mat_coopmat_q4_K", 256, 144},   {GgmlType::Q5_K, "mul_mat_coopmat_q5_K", 256, 176},
    {GgmlType::Q6_K, "mul_mat_coopmat_q6_K", 256, 210},   {GgmlType::IQ4_NL, "mul_mat_coopmat_iq4_nl", 32, 18},
    {GgmlType::IQ4_XS, "mul_mat_coopmat_iq4_xs", 256, 136},
};

const CoopmatType* coopmat_type(GgmlType type) {
  for (const CoopmatType& t : kCoopmatTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace

bool mat_mat_coopmat_supports(const VulkanContext& ctx, GgmlType type) {
  return ctx.info().coopmat_nv && ctx.info().subgroup_size > 0 && coopmat_type(type) != nullptr;
}

Status mat_mat_coopmat(VulkanOps& ops, Recording& rec, GgmlType type, DeviceSpan w, int64_t rows, int64_t cols,
                       DeviceSpan x, int64_t n_tokens, DeviceSpan y) {
  const CoopmatType* t = coopmat_type(type);
  if (t == nullptr) {
    const GgmlTypeInfo* ti = ggml_type_info(static_cast<uint32_t>(type));
    return Status(StatusCode::unsupported,
                  std::string("vulkan: no mat_mat_coopmat shader for ") + (ti != nullptr ? ti->name : "this type"));
  }
  const DeviceInfo& info = ops.context().info();
  if (!mat_mat_coopmat_supports(ops.context(), type)) {
    return Status(StatusCode::unsupported,
                  "vulkan: the device has no NV cooperative matrices (or PETREL_VULKAN_NO_COOPMAT is set)");
  }
  if (info.max_shared_memory < kSharedBytes) {
    return Status(StatusCode::unsupported, "vulkan: mat_mat_coopmat needs " + std::to_string(kSharedBytes) +
                                               " bytes of shared memory, the device has " +
                                               std::to_string(info.max_shared_memory));
  }
  if (rows <= 0 || cols <= 0 || cols % t->block_values != 0 || rows > UINT32_MAX || cols > UINT32_MAX / 4) {
    return bad_op("mat_mat_coopmat: rows must be a positive number of " + std::to_string(t->block_values) +
                  "-value blocks");
  }
  if (n_tokens < 1 || n_tokens > UINT32_MAX) return bad_op("mat_mat_coopmat of no tokens");
  const uint64_t nr = static_cast<uint64_t>(rows), nc = static_cast<uint64_t>(cols);
  const uint64_t nt = static_cast<uint64_t>(n_tokens);
  const uint64_t row_bytes = nc / t->block_values * t->block_bytes;
  if (w.buffer == nullptr || w.bytes / row_bytes < nr || x.bytes / 4 / nc < nt || y.bytes / 4 / nr < nt) {
    return bad_op("mat_mat_coopmat operands smaller than their shape");
  }
  const uint64_t token_tiles = (nt + kTileTokens - 1) / kTileTokens;
  if (token_tiles > info.max_workgroup_count[1]) return bad_op("mat_mat_coopmat of too many tokens");
  // NSUB subgroups of the size the device reports (the cooperative-matrix operations need whole
  // subgroups: the width is a multiple of it).
  const Pipeline* p = nullptr;
  PETREL_RETURN_IF_ERROR(ops.pipeline(t->shader, kSubgroups * info.subgroup_size, &p));

  // Weight rows per binding (as ops_matmul.cpp's rows_per_binding), with room for the alignment
  // below the first row's word and the word the last row ends in, and at most a grid's width of tiles.
  const uint64_t slack = std::max<uint64_t>(info.min_storage_buffer_offset_alignment, 4) + 8;
  if (ops.max_binding_bytes() < slack + row_bytes) {
    return bad_op("mat_mat_coopmat: one weight row is larger than a binding");
  }
  const uint64_t rows_per_bind =
      std::min<uint64_t>((ops.max_binding_bytes() - slack) / row_bytes, uint64_t{info.max_workgroup_count[0]} * kTileRows);

  std::vector<Binding> b(3);
  struct {
    uint32_t n_cols, n_rows, n_tokens, w_offset, row_bytes, x_offset, x_stride, y_offset, y_stride;
  } push{static_cast<uint32_t>(nc), 0, static_cast<uint32_t>(nt), 0, static_cast<uint32_t>(row_bytes),
         0, static_cast<uint32_t>(nc), 0, static_cast<uint32_t>(nr)};
  PETREL_RETURN_IF_ERROR(ops.bind(x, &b[1], &push.x_offset));
  uint32_t y_base = 0;
  PETREL_RETURN_IF_ERROR(ops.bind(y, &b[2], &y_base));
  for (uint64_t r0 = 0; r0 < nr; r0 += rows_per_bind) {
    const uint64_t n = std::min(rows_per_bind, nr - r0);
    // From the word at or below the range's first byte to the end of the word holding its last
    // byte, where the buffer has it (the shader reads whole words; rows of 18-, 22-, 34-, 110- and
    // 210-byte blocks need not start on a word).
    const uint64_t first = w.offset + r0 * row_bytes;
    const uint64_t start = first / 4 * 4;
    const uint64_t end =
        std::min<uint64_t>((first + n * row_bytes + 3) / 4 * 4, std::max(w.buffer->size(), first + n * row_bytes));
    uint32_t words = 0;
    PETREL_RETURN_IF_ERROR(ops.bind(DeviceSpan{w.buffer, start, end - start}, &b[0], &words));
    push.w_offset = words * 4 + static_cast<uint32_t>(first - start);
    push.n_rows = static_cast<uint32_t>(n);
    push.y_offset = y_base + static_cast<uint32_t>(r0);
    const uint32_t groups[3] = {static_cast<uint32_t>((n + kTileRows - 1) / kTileRows),
                                static_cast<uint32_t>(token_tiles), 1};
    rec.dispatch(ops.pipelines(), *p, b, &push, sizeof(push), groups);
  }
  return Status::ok_status();
}

}  // namespace petrel::vk
