// Repacking Q6_K rows into BlockQ6_Kx8 and the portable dot product over it (the reference the
// SIMD version is tested against). See q6_K_x8.h for the layout.
#include "backend/cpu/generic/q6_K_x8.h"

#include <cstring>

#include "quant/fp16.h"

namespace petrel::cpu {
namespace {

uint32_t load_word(const uint8_t* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

}  // namespace

// Four values at a time, as 32-bit words of bytes (this runs for every Q6_K matrix at load). In
// a Q6_K block, half h (values 128h + l) keeps the low nibbles of values l and l + 32 in
// ql[64h + l] / ql[64h + 32 + l] (low nibble, l < 32) and of l + 64, l + 96 in their high nibbles;
// qh[32h + l] holds the top bits of l, l + 32, l + 64, l + 96 at bits 0, 2, 4, 6. Chunk c of the
// repacked block is half c / 2, low nibbles for even c, high for odd.
void repack_q6_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ6_Kx8* dst) {
  const int64_t nb = cols / QK_K;
  constexpr uint32_t kLow = 0x0F0F0F0Fu;
  for (int64_t ib = 0; ib < nb; ++ib) {
    BlockQ6_Kx8& out = dst[ib];
    for (int r = 0; r < 8; ++r) {
      const auto* blk = reinterpret_cast<const BlockQ6_K*>(src + static_cast<uint64_t>(r) * row_bytes) + ib;
      uint16_t d;
      std::memcpy(&d, &blk->d, 2);
      out.d[r] = fp16_to_fp32(d);
      for (int s = 0; s < 16; ++s) out.scales[s][r] = blk->scales[s];
      for (int c = 0; c < 4; ++c) {
        const uint8_t* ql = blk->ql + 64 * (c / 2);
        const uint8_t* qh = blk->qh + 32 * (c / 2);
        const int shift = 4 * (c % 2);
        for (int p = 0; p < 4; ++p) {
          for (int half = 0; half < 2; ++half) {  // values 64c + 8p + 4 half + [0, 4) and those + 32
            const uint32_t a = load_word(ql + 8 * p + 4 * half), b = load_word(ql + 32 + 8 * p + 4 * half);
            const uint32_t w = c % 2 == 0 ? (a & kLow) | ((b & kLow) << 4) : ((a >> 4) & kLow) | (b & ~kLow);
            std::memcpy(&out.qs[c][p][half][4 * r], &w, 4);
          }
          // Top bits of value v (< 32 in the half) at bits 2 (c % 2) .. of qh[v], of v + 32 two bits higher.
          const uint32_t x = load_word(qh + 8 * p), y = load_word(qh + 8 * p + 4);
          const uint32_t h = ((x >> shift) & kLow) | (((y >> shift) & kLow) << 4);
          std::memcpy(&out.qs[c][p][2][4 * r], &h, 4);
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
