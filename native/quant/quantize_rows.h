// Whole-row quantization with an optional importance matrix: the same bytes as llama.cpp's
// ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix). Without an imatrix it is
// quantize_row over all the values; with one, each row goes through the importance-weighted
// quantizer of its type (quant/ref/weighted.h), and the types that ignore importances (Q8_0, the
// float types) quantize as usual.
#pragma once

#include <cstdint>

#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel {

// imatrix: n_per_row finite values, or nullptr. dst must be aligned for the block struct (8 bytes
// is enough) and hold nrows * row size bytes.
Status quantize_rows(GgmlType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row, const float* imatrix);

// Whether an imatrix changes what `type` produces.
bool uses_imatrix(GgmlType type);

}  // namespace petrel
