// quantize_rows.h: dispatch of whole rows to the plain or the importance-weighted quantizers.
#include "quant/quantize_rows.h"

#include <cmath>
#include <string>

#include "quant/convert.h"
#include "quant/ref/weighted.h"

namespace petrel {
namespace {

using WeightedFn = void (*)(const float* x, void* y, int64_t n_per_row, const float* qw);

template <typename T, void (*F)(const float*, T*, int64_t, const float*)>
void weighted_thunk(const float* x, void* y, int64_t n, const float* qw) {
  F(x, static_cast<T*>(y), n, qw);
}

WeightedFn weighted_fn(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return &weighted_thunk<BlockQ4_0, ref::quantize_row_q4_0_w>;
    case GgmlType::Q4_1: return &weighted_thunk<BlockQ4_1, ref::quantize_row_q4_1_w>;
    case GgmlType::Q5_0: return &weighted_thunk<BlockQ5_0, ref::quantize_row_q5_0_w>;
    case GgmlType::Q5_1: return &weighted_thunk<BlockQ5_1, ref::quantize_row_q5_1_w>;
    case GgmlType::Q2_K: return &weighted_thunk<BlockQ2_K, ref::quantize_row_q2_K_w>;
    case GgmlType::Q3_K: return &weighted_thunk<BlockQ3_K, ref::quantize_row_q3_K_w>;
    case GgmlType::Q4_K: return &weighted_thunk<BlockQ4_K, ref::quantize_row_q4_K_w>;
    case GgmlType::Q5_K: return &weighted_thunk<BlockQ5_K, ref::quantize_row_q5_K_w>;
    case GgmlType::Q6_K: return &weighted_thunk<BlockQ6_K, ref::quantize_row_q6_K_w>;
    case GgmlType::IQ4_NL: return &weighted_thunk<BlockIq4Nl, ref::quantize_row_iq4_nl_w>;
    case GgmlType::IQ4_XS: return &weighted_thunk<BlockIq4Xs, ref::quantize_row_iq4_xs_w>;
    default: return nullptr;
  }
}

}  // namespace

bool uses_imatrix(GgmlType type) { return weighted_fn(type) != nullptr; }

Status quantize_rows(GgmlType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix) {
  if (nrows < 0 || n_per_row <= 0) return Status(StatusCode::invalid_argument, "quantize: bad row count or length");
  const WeightedFn fn = imatrix ? weighted_fn(type) : nullptr;
  if (!fn) return quantize_row(type, src, dst, nrows * n_per_row);
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (n_per_row % info->block_size != 0) {
    return Status(StatusCode::invalid_argument, std::string("quantize: row length ") + std::to_string(n_per_row) +
                                                    " is not a multiple of the " + info->name + " block size");
  }
  if (reinterpret_cast<uintptr_t>(dst) % 8 != 0) return Status(StatusCode::invalid_argument, "quantize: misaligned output");
  const int64_t n = nrows * n_per_row;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(src[i])) {
      return Status(StatusCode::invalid_argument, std::string("quantize: non-finite value at index ") + std::to_string(i) +
                                                      " cannot be stored as " + info->name);
    }
  }
  const uint64_t row_bytes = static_cast<uint64_t>(n_per_row) / info->block_size * info->type_size;
  for (int64_t r = 0; r < nrows; ++r) {
    fn(src + r * n_per_row, static_cast<uint8_t*>(dst) + r * row_bytes, n_per_row, imatrix);
  }
  return Status::ok_status();
}

}  // namespace petrel
