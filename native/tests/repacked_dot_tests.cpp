// Q4_K and Q6_K rows repacked eight at a time: every runnable variant's dot_q4_K_x8 / dot_q6_K_x8
// against the plain-layout generic dot of each row (itself tested against dequantized double
// references), for quantizer output and raw random rows (every bit pattern of quants, scales and
// mins), 1 or 2 groups and 1..4 activation rows.
#include <cmath>
#include <cstdio>
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

// One repacked format under test: its block sizes, repacker, kernel and the plain generic kernel.
struct Format {
  GgmlType type;
  uint64_t block_bytes, packed_bytes;
  void (*repack)(const uint8_t* src, uint64_t row_bytes, int64_t cols, uint8_t* dst);
  void (*dot)(const cpu::CpuKernels& k, const uint8_t* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);
  cpu::QuantDotFn cpu::CpuKernels::*plain;
  const char* name;
};

const Format kQ4_K{GgmlType::Q4_K, sizeof(BlockQ4_K), sizeof(cpu::BlockQ4_Kx8),
                   [](const uint8_t* s, uint64_t rb, int64_t c, uint8_t* d) { cpu::repack_q4_K_x8(s, rb, c, reinterpret_cast<cpu::BlockQ4_Kx8*>(d)); },
                   [](const cpu::CpuKernels& k, const uint8_t* w, int g, const BlockQ8_K* a, int64_t n, int na, float* o) {
                     k.dot_q4_K_x8(reinterpret_cast<const cpu::BlockQ4_Kx8*>(w), g, a, n, na, o);
                   },
                   &cpu::CpuKernels::dot_q4_K, "dot_q4_K_x8"};
const Format kQ6_K{GgmlType::Q6_K, sizeof(BlockQ6_K), sizeof(cpu::BlockQ6_Kx8),
                   [](const uint8_t* s, uint64_t rb, int64_t c, uint8_t* d) { cpu::repack_q6_K_x8(s, rb, c, reinterpret_cast<cpu::BlockQ6_Kx8*>(d)); },
                   [](const cpu::CpuKernels& k, const uint8_t* w, int g, const BlockQ8_K* a, int64_t n, int na, float* o) {
                     k.dot_q6_K_x8(reinterpret_cast<const cpu::BlockQ6_Kx8*>(w), g, a, n, na, o);
                   },
                   &cpu::CpuKernels::dot_q6_K, "dot_q6_K_x8"};

// Random bytes for a block, with its fp16 scale(s) set to sane magnitudes.
void fill_raw_block(GgmlType type, uint8_t* blk, Rng& rng) {
  if (type == GgmlType::Q4_K) {
    auto* b = reinterpret_cast<BlockQ4_K*>(blk);
    b->d = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f);
    b->dmin = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f);
  } else {
    reinterpret_cast<BlockQ6_K*>(blk)->d = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f);
  }
}

// Two groups (16 rows) repacked from 16 plain rows; every n_groups / n_act combination against
// the plain generic dot of each row, and a group's results the same bits whichever way it is asked.
void check_x8(const Format& f, const cpu::CpuKernels& k, int64_t cols, bool raw, Rng& rng) {
  const int64_t nb = cols / QK_K;
  const uint64_t row_bytes = static_cast<uint64_t>(nb) * f.block_bytes;
  std::vector<uint8_t> rows(16 * row_bytes);
  for (int r = 0; r < 16; ++r) {
    uint8_t* dst = rows.data() + r * row_bytes;
    if (raw) {
      for (uint64_t i = 0; i < row_bytes; ++i) dst[i] = static_cast<uint8_t>(rng.u32());
      for (int64_t b = 0; b < nb; ++b) fill_raw_block(f.type, dst + b * f.block_bytes, rng);
    } else {
      std::vector<float> x(static_cast<size_t>(cols));
      for (auto& v : x) v = rng.normal() * 0.05f + 0.01f;
      PETREL_CHECK(quantize_row(f.type, x.data(), dst, cols).ok());
    }
  }
  const uint64_t group_bytes = static_cast<uint64_t>(nb) * f.packed_bytes;
  std::vector<uint8_t> packed(2 * group_bytes);  // group 1 right after group 0
  f.repack(rows.data(), row_bytes, cols, packed.data());
  f.repack(rows.data() + 8 * row_bytes, row_bytes, cols, packed.data() + group_bytes);
  if (f.type == GgmlType::Q4_K) {  // the variant's own repacker (run per task on experts) writes the same bytes
    std::vector<uint8_t> again(group_bytes);
    k.repack_q4_K_x8(rows.data() + 8 * row_bytes, row_bytes, cols, reinterpret_cast<cpu::BlockQ4_Kx8*>(again.data()));
    if (std::memcmp(again.data(), packed.data() + group_bytes, group_bytes) != 0) {
      test::fail(__FILE__, __LINE__, std::string(k.name) + " repack_q4_K_x8 differs from the generic repacker");
    }
  }

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
    (gen.*f.plain)(rows.data() + r * row_bytes, acts.data(), cols, cpu::kMaxDotActs, col);
    for (int j = 0; j < cpu::kMaxDotActs; ++j) want[j][r] = col[j];
  }
  float single[cpu::kMaxDotActs][16];  // one group, one activation row per call
  for (int j = 0; j < cpu::kMaxDotActs; ++j) {
    for (int gi = 0; gi < 2; ++gi) f.dot(k, packed.data() + gi * group_bytes, 1, acts.data() + j * nb, cols, 1, single[j] + 8 * gi);
  }
  for (int n_groups = 1; n_groups <= 2; ++n_groups) {
    for (int n_act = 1; n_act <= cpu::kMaxDotActs; ++n_act) {
      float got[cpu::kMaxDotActs * 16];
      f.dot(k, packed.data(), n_groups, acts.data(), cols, n_act, got);
      for (int j = 0; j < n_act; ++j) {
        for (int r = 0; r < 8 * n_groups; ++r) {
          const float g = got[j * 8 * n_groups + r], w = want[j][r];
          const std::string what = std::string(k.name) + " " + f.name + " cols=" + std::to_string(cols) + (raw ? " raw" : "") +
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

void check_all_variants(const Format& f, Rng& rng) {
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int64_t cols : {int64_t{256}, int64_t{1024}, int64_t{3584}}) {
      check_x8(f, *k, cols, false, rng);
      check_x8(f, *k, cols, true, rng);
    }
  }
}

PETREL_TEST(q4_K_x8_all_variants) {
  Rng rng(21);
  check_all_variants(kQ4_K, rng);
}

PETREL_TEST(q6_K_x8_all_variants) {
  Rng rng(22);
  check_all_variants(kQ6_K, rng);
}

// The AVX-512 kernels compute the same integer sums as the AVX2 ones and finish them with the
// same float operations lane for lane: the same bits, for raw rows and for activations at the
// ends of the int8 range (every value +-127), 1 or 2 groups and 1..4 activation rows. Reported
// skipped where the CPU lacks either table.
void check_avx512_matches_avx2(const Format& f, Rng& rng) {
  const cpu::CpuKernels *avx2 = nullptr, *avx512 = nullptr;
  if (!cpu::find_cpu_kernels("avx2", &avx2).ok() || !cpu::find_cpu_kernels("avx512", &avx512).ok()) {
    test::skip("this CPU does not run both the avx2 and the avx512 kernel tables");
    return;
  }
  const int64_t cols = 1024, nb = cols / QK_K;
  const uint64_t row_bytes = static_cast<uint64_t>(nb) * f.block_bytes;
  std::vector<uint8_t> rows(16 * row_bytes);
  for (auto& b : rows) b = static_cast<uint8_t>(rng.u32());
  for (int r = 0; r < 16; ++r) {
    for (int64_t b = 0; b < nb; ++b) fill_raw_block(f.type, rows.data() + r * row_bytes + b * f.block_bytes, rng);
  }
  const uint64_t group_bytes = static_cast<uint64_t>(nb) * f.packed_bytes;
  std::vector<uint8_t> packed(2 * group_bytes);
  f.repack(rows.data(), row_bytes, cols, packed.data());
  f.repack(rows.data() + 8 * row_bytes, row_bytes, cols, packed.data() + group_bytes);
  std::vector<BlockQ8_K> acts(static_cast<size_t>(cpu::kMaxDotActs * nb));
  for (int j = 0; j < cpu::kMaxDotActs; ++j) {
    std::vector<float> x(static_cast<size_t>(cols));
    for (auto& v : x) v = j % 2 == 0 ? (rng.u32() % 2 ? 1.0f : -1.0f) : rng.normal();  // rows 0, 2: all +-127
    avx2->quantize_row_q8_K(x.data(), acts.data() + j * nb, cols);
  }
  for (int n_groups = 1; n_groups <= 2; ++n_groups) {
    for (int n_act = 1; n_act <= cpu::kMaxDotActs; ++n_act) {
      float want[cpu::kMaxDotActs * 16], got[cpu::kMaxDotActs * 16];
      f.dot(*avx2, packed.data(), n_groups, acts.data(), cols, n_act, want);
      f.dot(*avx512, packed.data(), n_groups, acts.data(), cols, n_act, got);
      if (std::memcmp(want, got, sizeof(float) * 8 * n_groups * n_act) != 0) {
        test::fail(__FILE__, __LINE__, std::string(f.name) + " avx512 differs from avx2: n_groups=" + std::to_string(n_groups) +
                                           " n_act=" + std::to_string(n_act));
      }
    }
  }
}

PETREL_TEST(repacked_avx512_matches_avx2) {
  Rng rng(23);
  check_avx512_matches_avx2(kQ4_K, rng);
  check_avx512_matches_avx2(kQ6_K, rng);
}

}  // namespace
}  // namespace petrel
