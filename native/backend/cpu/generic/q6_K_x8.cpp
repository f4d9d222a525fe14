// Repacking Q6_K rows into BlockQ6_Kx8 and the portable dot product over it (the reference the
// SIMD version is tested against). See q6_K_x8.h for the layout.
#include "backend/cpu/generic/q6_K_x8.h"

#include <cstring>

#include "quant/fp16.h"

namespace petrel::cpu {
namespace {

// The 256 values (0..63) of one Q6_K block in order: in each half of 128, ql[l] holds values l
// (low nibble) and l + 64 (high), ql[l + 32] values l + 32 and l + 96, qh[l] their top bits.
void unpack_q6_K(const BlockQ6_K& b, uint8_t* v) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    uint8_t* out = v + 128 * half;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

}  // namespace

void repack_q6_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ6_Kx8* dst) {
  const int64_t nb = cols / QK_K;
  for (int64_t ib = 0; ib < nb; ++ib) {
    BlockQ6_Kx8& out = dst[ib];
    for (int r = 0; r < 8; ++r) {
      BlockQ6_K blk;
      std::memcpy(&blk, src + static_cast<uint64_t>(r) * row_bytes + static_cast<uint64_t>(ib) * sizeof(BlockQ6_K), sizeof blk);
      out.d[r] = fp16_to_fp32(blk.d);
      for (int s = 0; s < 16; ++s) out.scales[s][r] = blk.scales[s];
      uint8_t v[QK_K];
      unpack_q6_K(blk, v);
      for (int c = 0; c < 4; ++c) {
        const uint8_t* vc = v + 64 * c;
        for (int p = 0; p < 4; ++p) {
          for (int k = 0; k < 4; ++k) {
            for (int half = 0; half < 2; ++half) {  // group 2p + half
              const int i = 8 * p + 4 * half + k;
              out.qs[c][p][half][4 * r + k] = static_cast<uint8_t>((vc[i] & 0xF) | ((vc[32 + i] & 0xF) << 4));
            }
            out.qs[c][p][2][4 * r + k] = static_cast<uint8_t>((vc[8 * p + k] >> 4) | ((vc[32 + 8 * p + k] >> 4) << 2) |
                                                              ((vc[8 * p + 4 + k] >> 4) << 4) | ((vc[32 + 8 * p + 4 + k] >> 4) << 6));
          }
        }
      }
    }
  }
}

namespace generic {

void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / QK_K;
  for (int j = 0; j < n_act; ++j) {
    const BlockQ8_K* y = a + j * nb;
    for (int gr = 0; gr < 8 * n_groups; ++gr) {  // row r of group gi
      const BlockQ6_Kx8* group = w + (gr / 8) * nb;
      const int r = gr % 8;
      float sum = 0.0f;
      for (int64_t ib = 0; ib < nb; ++ib) {
        const BlockQ6_Kx8& b = group[ib];
        int sumi = 0;
        for (int c = 0; c < 4; ++c) {
          for (int high = 0; high < 2; ++high) {
            for (int g = 0; g < 8; ++g) {
              const int shift = 2 * high + 4 * (g % 2);  // where this value's top bits sit in qh
              int s = 0;
              for (int k = 0; k < 4; ++k) {
                const uint8_t lo = b.qs[c][g / 2][g % 2][4 * r + k];
                const int q = ((high ? lo >> 4 : lo & 0xF) | (((b.qs[c][g / 2][2][4 * r + k] >> shift) & 3) << 4)) - 32;
                s += q * y[ib].qs[64 * c + 32 * high + 4 * g + k];
              }
              sumi += b.scales[4 * c + 2 * high + g / 4][r] * s;
            }
          }
        }
        sum += b.d[r] * y[ib].d * static_cast<float>(sumi);
      }
      out[j * 8 * n_groups + gr] = sum;
    }
  }
}

}  // namespace generic
}  // namespace petrel::cpu
