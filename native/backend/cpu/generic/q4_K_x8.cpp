// Repacking Q4_K rows into BlockQ4_Kx8 and the portable dot product over it (the reference the
// SIMD version is tested against). See q4_K_x8.h for the layout.
#include "backend/cpu/generic/q4_K_x8.h"

#include <cstring>

#include "backend/cpu/generic/quant_dot_generic.h"
#include "quant/fp16.h"

namespace petrel::cpu {

void repack_q4_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ4_Kx8* dst) {
  const int64_t nb = cols / QK_K;
  for (int64_t ib = 0; ib < nb; ++ib) {
    BlockQ4_Kx8& out = dst[ib];
    for (int r = 0; r < 8; ++r) {
      const auto* blk = reinterpret_cast<const BlockQ4_K*>(src + static_cast<uint64_t>(r) * row_bytes) + ib;
      uint16_t d, dmin;
      std::memcpy(&d, &blk->d, 2);
      std::memcpy(&dmin, &blk->dmin, 2);
      out.d[r] = fp16_to_fp32(d);
      out.dmin[r] = fp16_to_fp32(dmin);
      uint8_t sc[8], mn[8];
      generic::unpack_k4_scales(blk->scales, sc, mn);
      for (int j = 0; j < 8; ++j) {
        out.scales[j][r] = sc[j];
        out.mins[j / 2][2 * r + j % 2] = mn[j];
      }
      // Q4_K keeps value 64c + l in the low nibble and 64c + 32 + l in the high nibble of qs[32c + l];
      // 4-byte words move as one (this runs per task for matrices not repacked at load).
      for (int c = 0; c < 4; ++c) {
        for (int g = 0; g < 8; ++g) std::memcpy(&out.qs[c][g][4 * r], blk->qs + 32 * c + 4 * g, 4);
      }
    }
  }
}

namespace generic {

void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / QK_K;
  for (int j = 0; j < n_act; ++j) {
    const BlockQ8_K* y = a + j * nb;
    for (int gr = 0; gr < 8 * n_groups; ++gr) {  // row r of group gi
      const BlockQ4_Kx8* group = w + (gr / 8) * nb;
      const int r = gr % 8;
      float sum = 0.0f;
      for (int64_t ib = 0; ib < nb; ++ib) {
        const BlockQ4_Kx8& b = group[ib];
        int sumi = 0, summ = 0;
        for (int sub = 0; sub < 8; ++sub) {
          const int c = sub / 2, high = sub % 2;
          int s = 0;
          for (int g = 0; g < 8; ++g) {
            for (int k = 0; k < 4; ++k) {
              const uint8_t byte = b.qs[c][g][4 * r + k];
              const int q = high ? byte >> 4 : byte & 0xF;
              s += q * y[ib].qs[64 * c + 32 * high + 4 * g + k];
            }
          }
          sumi += b.scales[sub][r] * s;
          summ += b.mins[sub / 2][2 * r + sub % 2] * (y[ib].bsums[2 * sub] + y[ib].bsums[2 * sub + 1]);
        }
        sum += b.d[r] * y[ib].d * static_cast<float>(sumi) - b.dmin[r] * y[ib].d * static_cast<float>(summ);
      }
      out[j * 8 * n_groups + gr] = sum;
    }
  }
}

}  // namespace generic
}  // namespace petrel::cpu
