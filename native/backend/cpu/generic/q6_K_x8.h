// Q6_K rows repacked eight at a time for the integer matmul (CpuKernels::dot_q6_K_x8).
//
// Like BlockQ4_Kx8: one register holds 4 values of each of 8 rows, so one broadcast of 4
// activation bytes multiplies all 8 rows and each 16-value sub-block is scaled once for all of
// them. The 6-bit values stay 6-bit (their low nibbles interleaved as in BlockQ4_Kx8, their high
// bit pairs four to a byte), so the layout is as large as the file's and decode, which streams
// the weights, reads no more bytes than before. A 6-bit weight times an int8 activation fits
// int16 for two vpmaddubsw results only (2 x 2 x 63 x 127 < 32767), so the kernel scales every
// pair of them, where Q4_K scales once per eight.
// Repacked at model load (CpuBackend::prepare_weight); the original rows are not used after.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace petrel::cpu {

// One super-block (256 columns) of 8 consecutive rows. Value v of a row is 0..63 (the file's
// 6-bit value; the weight is d * scale * (v - 32)).
struct BlockQ6_Kx8 {
  float d[8];             // per row: fp16 d as float
  int8_t scales[16][8];   // [sub-block of 16 values][row r]
  // [chunk c][group pair p]: three registers the kernel reads one after the other, so the block
  // streams in order (with the bit pairs in a separate array, decode was slower):
  //   [0][4r + k]: low nibble = low 4 bits of value 64c + 8p + k, high nibble = of 64c + 32 + 8p + k
  //   [1][4r + k]: the same for values 64c + 8p + 4 + k and 64c + 32 + 8p + 4 + k
  //   [2][4r + k]: the top 2 bits of values 64c + 8p + k (bits 0-1), 64c + 32 + 8p + k (2-3),
  //                64c + 8p + 4 + k (4-5), 64c + 32 + 8p + 4 + k (6-7)
  uint8_t qs[4][4][3][32];
};
static_assert(sizeof(BlockQ6_Kx8) == 1696, "BlockQ6_Kx8 is 1696 bytes");

// Repacks rows [8i, 8i + 8) of a Q6_K matrix (cols a multiple of 256, row_bytes apart) into
// cols / 256 BlockQ6_Kx8 at dst.
void repack_q6_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ6_Kx8* dst);

namespace generic {

// out[(j * n_groups + gi) * 8 + r] = row r of 8-row group gi x activation row j (Q8_K, back to
// back), n_groups <= 2, n_act <= 4 (CpuKernels::dot_q6_K_x8).
void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);

}  // namespace generic
}  // namespace petrel::cpu
