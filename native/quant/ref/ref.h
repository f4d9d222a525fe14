// The scalar reference conversions, one pair per tensor type, under the names the SIMD kernels
// reuse (backend/cpu/<isa>/ implement the same names). Each is bit-identical to llama.cpp:
//   dequantize_row_<t>  == ggml's dequantize_row_<t> / to_float
//   quantize_row_<t>    == ggml_quantize_chunk(<t>, ..., imatrix = NULL)
// n is a whole number of blocks; pointers must be aligned for their block struct (convert.cpp
// copies misaligned input). Quantizers expect finite input (convert.cpp checks).
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace petrel::ref {

// ---- float formats (ref/float_formats.cpp) ----
void dequantize_row_f32(const float* x, float* y, int64_t n);
void dequantize_row_f16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_f64(const double* x, float* y, int64_t n);
void dequantize_row_i8(const int8_t* x, float* y, int64_t n);
void dequantize_row_i16(const int16_t* x, float* y, int64_t n);
void dequantize_row_i32(const int32_t* x, float* y, int64_t n);
void quantize_row_f32(const float* x, float* y, int64_t n);
void quantize_row_f16(const float* x, uint16_t* y, int64_t n);
void quantize_row_bf16(const float* x, uint16_t* y, int64_t n);

// ---- legacy 32-value blocks and MXFP4 (ref/legacy_quants.cpp) ----
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_mxfp4(const BlockMxfp4* x, float* y, int64_t n);
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_mxfp4(const float* x, BlockMxfp4* y, int64_t n);

// ---- K-quants (ref/k_quants.cpp: dequantizers; ref/k_quants_quantize.cpp: quantizers) ----
void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_q8_K(const BlockQ8_K* x, float* y, int64_t n);
void quantize_row_q2_K(const float* x, BlockQ2_K* y, int64_t n);
void quantize_row_q3_K(const float* x, BlockQ3_K* y, int64_t n);
void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n);
// == ggml's quantize_row_q8_K_ref (ggml_quantize_chunk has no Q8_K path).
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

// ---- IQ4 (ref/iq4.cpp) ----
void dequantize_row_iq4_nl(const BlockIq4Nl* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const BlockIq4Xs* x, float* y, int64_t n);
// These follow ggml_quantize_chunk (7 scale trials per block, what llama-quantize writes); note
// that ggml's quantize_row_iq4_nl_ref makes no trials and can give other bytes.
void quantize_row_iq4_nl(const float* x, BlockIq4Nl* y, int64_t n);
void quantize_row_iq4_xs(const float* x, BlockIq4Xs* y, int64_t n);

// Q4_K / Q5_K packed 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
static inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace petrel::ref
