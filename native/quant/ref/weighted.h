// The importance-weighted quantizers: what ggml_quantize_chunk runs when llama-quantize is given an
// imatrix (ggml's quantize_row_<t>_impl with quant_weights != NULL). One call quantizes ONE row:
// several of them (Q4_0 .. Q5_1) weight each value by the spread of the whole row, so a row cannot
// be split. `qw` holds n_per_row importances (the imatrix entry for this row's expert).
// Bit-identical to ggml; the rows without an imatrix stay with ref.h's quantize_row_<t>.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace petrel::ref {

void quantize_row_q4_0_w(const float* x, BlockQ4_0* y, int64_t n_per_row, const float* qw);
void quantize_row_q4_1_w(const float* x, BlockQ4_1* y, int64_t n_per_row, const float* qw);
void quantize_row_q5_0_w(const float* x, BlockQ5_0* y, int64_t n_per_row, const float* qw);
void quantize_row_q5_1_w(const float* x, BlockQ5_1* y, int64_t n_per_row, const float* qw);
void quantize_row_q2_K_w(const float* x, BlockQ2_K* y, int64_t n_per_row, const float* qw);
void quantize_row_q3_K_w(const float* x, BlockQ3_K* y, int64_t n_per_row, const float* qw);
void quantize_row_q4_K_w(const float* x, BlockQ4_K* y, int64_t n_per_row, const float* qw);
void quantize_row_q5_K_w(const float* x, BlockQ5_K* y, int64_t n_per_row, const float* qw);
void quantize_row_q6_K_w(const float* x, BlockQ6_K* y, int64_t n_per_row, const float* qw);
// ref/iq4.cpp
void quantize_row_iq4_nl_w(const float* x, BlockIq4Nl* y, int64_t n_per_row, const float* qw);
void quantize_row_iq4_xs_w(const float* x, BlockIq4Xs* y, int64_t n_per_row, const float* qw);

}  // namespace petrel::ref
