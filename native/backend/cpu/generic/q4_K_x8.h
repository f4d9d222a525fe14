// Q4_K rows repacked eight at a time for the integer matmul (CpuKernels::dot_q4_K_x8).
//
// In a plain Q4_K row each 32-value sub-block costs one vpmaddubsw and one vpmaddwd (its scale)
// per token. With eight rows interleaved four bytes at a time, one register holds 4 values of
// each of the 8 rows; one broadcast of 4 activation bytes multiplies all of them, and because
// 4-bit weights times int8 activations fit int16 for a whole sub-block (8 x 2 x 15 x 127 <
// 32767), the sub-block's eight products are summed in int16 and scaled once for all 8 rows.
// That halves the multiplies per multiply-add and removes the per-row scale shuffles.
// Repacked at model load (CpuBackend::prepare_weight); the original rows are not used after.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace petrel::cpu {

// One super-block (256 columns) of 8 consecutive rows.
struct BlockQ4_Kx8 {
  float d[8];               // per row: fp16 d as float
  float dmin[8];            // per row: fp16 dmin as float
  uint8_t scales[8][8];     // [sub-block j][row r]: 6-bit scale
  int16_t mins[4][16];      // [pair i][2r + h]: 6-bit min of sub-block 2i + h of row r
  uint8_t qs[4][8][32];     // [chunk c][group g][4r + k]: low nibble = value 64c + 4g + k of row r,
                            //                            high nibble = value 64c + 32 + 4g + k
};
static_assert(sizeof(BlockQ4_Kx8) == 1280, "BlockQ4_Kx8 is 1280 bytes");

// Repacks rows [8i, 8i + 8) of a Q4_K matrix (cols a multiple of 256, row_bytes apart) into
// cols / 256 BlockQ4_Kx8 at dst.
void repack_q4_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ4_Kx8* dst);

namespace generic {

// out[(j * n_groups + gi) * 8 + r] = row r of 8-row group gi x activation row j (Q8_K, back to
// back), n_groups <= 2, n_act <= 4 (CpuKernels::dot_q4_K_x8).
void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);

}  // namespace generic
}  // namespace petrel::cpu
