// Row conversion between float32 and the ggml tensor types: the reference (scalar) dequantizers
// for every type petrel reads, and the reference quantizers petrel can write.
// Both must be bit-identical to llama.cpp (ggml's to_float / quantize_row_*_ref); the tests check
// them against libggml-base.
#pragma once

#include <cstdint>

#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel {

bool can_dequantize(GgmlType type);
bool can_quantize(GgmlType type);

// Converts n elements (a whole number of blocks) of `type` at src to float32 at dst.
Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// Converts n float32 values (a whole number of blocks) to `type` at dst
// (dst holds n / block_size * type_size bytes).
Status quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace petrel
