// Q4_K rows repacked eight at a time: every runnable variant's dot_q4_K_x8 against the plain-layout
// generic dot of each row (itself tested against dequantized double references), for quantizer
// output and raw random rows (every bit pattern of quants, scales and mins), 1 or 2 groups and
// 1..4 activation rows.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "quant/blocks.h"
#include "quant/convert.h"
#include "quant/fp16.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

// Two groups (16 rows) repacked from 16 plain rows; every n_groups / n_act combination against
// the plain generic dot of each row, and a group's results the same bits whichever way it is asked.
void check_x8(const cpu::CpuKernels& k, int64_t cols, bool raw, Rng& rng) {
  const int64_t nb = cols / QK_K;
  const uint64_t row_bytes = static_cast<uint64_t>(nb) * sizeof(BlockQ4_K);
  std::vector<uint8_t> rows(16 * row_bytes);
  for (int r = 0; r < 16; ++r) {
    uint8_t* dst = rows.data() + r * row_bytes;
    if (raw) {
      for (uint64_t i = 0; i < row_bytes; ++i) dst[i] = static_cast<uint8_t>(rng.u32());
      for (int64_t b = 0; b < nb; ++b) {
        auto* blk = reinterpret_cast<BlockQ4_K*>(dst) + b;
        blk->d = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f);
        blk->dmin = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f);
      }
    } else {
      std::vector<float> x(static_cast<size_t>(cols));
      for (auto& v : x) v = rng.normal() * 0.05f + 0.01f;
      PETREL_CHECK(quantize_row(GgmlType::Q4_K, x.data(), dst, cols).ok());
    }
  }
  std::vector<cpu::BlockQ4_Kx8> packed(static_cast<size_t>(2 * nb));  // group 1 right after group 0
  cpu::repack_q4_K_x8(rows.data(), row_bytes, cols, packed.data());
  cpu::repack_q4_K_x8(rows.data() + 8 * row_bytes, row_bytes, cols, packed.data() + nb);

  std::vector<BlockQ8_K> acts(static_cast<size_t>(cpu::kMaxDotActs * nb));
  for (int j = 0; j < cpu::kMaxDotActs; ++j) {
    std::vector<float> x(static_cast<size_t>(cols));
    for (auto& v : x) v = rng.normal();
    k.quantize_row_q8_K(x.data(), acts.data() + j * nb, cols);
  }
  const cpu::CpuKernels& gen = cpu::cpu_kernels_generic();
  float want[cpu::kMaxDotActs][16];
  for (int r = 0; r < 16; ++r) {
    float col[cpu::kMaxDotActs];
    gen.dot_q4_K(rows.data() + r * row_bytes, acts.data(), cols, cpu::kMaxDotActs, col);
    for (int j = 0; j < cpu::kMaxDotActs; ++j) want[j][r] = col[j];
  }
  float single[cpu::kMaxDotActs][16];  // one group, one activation row per call
  for (int j = 0; j < cpu::kMaxDotActs; ++j) {
    for (int gi = 0; gi < 2; ++gi) k.dot_q4_K_x8(packed.data() + gi * nb, 1, acts.data() + j * nb, cols, 1, single[j] + 8 * gi);
  }
  for (int n_groups = 1; n_groups <= 2; ++n_groups) {
    for (int n_act = 1; n_act <= cpu::kMaxDotActs; ++n_act) {
      float got[cpu::kMaxDotActs * 16];
      k.dot_q4_K_x8(packed.data(), n_groups, acts.data(), cols, n_act, got);
      for (int j = 0; j < n_act; ++j) {
        for (int r = 0; r < 8 * n_groups; ++r) {
          const float g = got[j * 8 * n_groups + r], w = want[j][r];
          const std::string what = std::string(k.name) + " dot_q4_K_x8 cols=" + std::to_string(cols) + (raw ? " raw" : "") +
                                   " n_groups=" + std::to_string(n_groups) + " n_act=" + std::to_string(n_act) +
                                   " j=" + std::to_string(j) + " r=" + std::to_string(r);
          // Same integer sums as the plain kernel; float scaling in another order, whose rounding
          // follows the size of the d and dmin terms (raw rows make them large and cancelling),
          // not of the result. A wrong nibble, scale or min is off by the order of the terms.
          if (!(std::fabs(g - w) <= 1e-4f * (std::fabs(w) + 1.0f))) {
            test::fail(__FILE__, __LINE__, what + ": " + std::to_string(g) + " vs " + std::to_string(w));
            return;
          }
          if (f32_bits(g) != f32_bits(single[j][r])) test::fail(__FILE__, __LINE__, what + ": differs from a one-row call");
        }
      }
    }
  }
}

PETREL_TEST(q4_K_x8_all_variants) {
  Rng rng(21);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int64_t cols : {int64_t{256}, int64_t{1024}, int64_t{3584}}) {
      check_x8(*k, cols, false, rng);
      check_x8(*k, cols, true, rng);
    }
  }
}

}  // namespace
}  // namespace petrel
