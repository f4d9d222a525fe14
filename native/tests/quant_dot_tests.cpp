// The quantized dot products (CpuKernels::dot_*) of every kernel variant this CPU runs, against
// an independent reference: both operands dequantized by quant/ref/ (bit-identical to ggml) and
// dotted in double. Weights are both quantizer output and raw random bytes (every bit pattern
// of quants and sub-block scales); activations come from the variant's own quantizer.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "quant/blocks.h"
#include "quant/convert.h"
#include "quant/fp16.h"
#include "quant/ggml_type.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

struct DotCase {
  const char* name;
  GgmlType type;
  GgmlType act_type;
  cpu::QuantDotFn cpu::CpuKernels::*fn;
};

const DotCase kCases[] = {
    {"q4_0", GgmlType::Q4_0, GgmlType::Q8_0, &cpu::CpuKernels::dot_q4_0},
    {"q8_0", GgmlType::Q8_0, GgmlType::Q8_0, &cpu::CpuKernels::dot_q8_0},
    {"q4_K", GgmlType::Q4_K, GgmlType::Q8_K, &cpu::CpuKernels::dot_q4_K},
    {"q5_K", GgmlType::Q5_K, GgmlType::Q8_K, &cpu::CpuKernels::dot_q5_K},
    {"q6_K", GgmlType::Q6_K, GgmlType::Q8_K, &cpu::CpuKernels::dot_q6_K},
};

uint64_t row_bytes(GgmlType type, int64_t n) {
  uint64_t bytes = 0;
  ggml_row_bytes(*ggml_type_info(static_cast<uint32_t>(type)), static_cast<uint64_t>(n), &bytes);
  return bytes;
}

std::vector<float> dequantize(GgmlType type, const uint8_t* src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  PETREL_CHECK(dequantize_row(type, src, out.data(), n).ok());
  return out;
}

// Overwrites every fp16 scale of a row of random bytes with a finite value of realistic size
// (random scale bits would make inf/NaN sums that compare as nothing).
void sanitize_scales(GgmlType type, uint8_t* row, int64_t n, Rng& rng) {
  auto scale = [&](uint16_t* h) { *h = fp32_to_fp16(0.0005f + rng.uniform() * 0.02f); };
  switch (type) {
    case GgmlType::Q4_0: for (int64_t b = 0; b < n / QK4_0; ++b) scale(&reinterpret_cast<BlockQ4_0*>(row)[b].d); break;
    case GgmlType::Q8_0: for (int64_t b = 0; b < n / QK8_0; ++b) scale(&reinterpret_cast<BlockQ8_0*>(row)[b].d); break;
    case GgmlType::Q4_K:
      for (int64_t b = 0; b < n / QK_K; ++b) {
        scale(&reinterpret_cast<BlockQ4_K*>(row)[b].d);
        scale(&reinterpret_cast<BlockQ4_K*>(row)[b].dmin);
      }
      break;
    case GgmlType::Q5_K:
      for (int64_t b = 0; b < n / QK_K; ++b) {
        scale(&reinterpret_cast<BlockQ5_K*>(row)[b].d);
        scale(&reinterpret_cast<BlockQ5_K*>(row)[b].dmin);
      }
      break;
    case GgmlType::Q6_K: for (int64_t b = 0; b < n / QK_K; ++b) scale(&reinterpret_cast<BlockQ6_K*>(row)[b].d); break;
    default: break;
  }
}

void check_case(const cpu::CpuKernels& k, const DotCase& c, int64_t n, bool raw_weights, Rng& rng) {
  const uint64_t w_bytes = row_bytes(c.type, n), a_bytes = row_bytes(c.act_type, n);
  std::vector<uint8_t> w(w_bytes);
  if (raw_weights) {
    for (auto& b : w) b = static_cast<uint8_t>(rng.u32());
    sanitize_scales(c.type, w.data(), n, rng);
  } else {
    std::vector<float> wf(static_cast<size_t>(n));
    for (auto& v : wf) v = rng.normal() * 0.05f + 0.01f;
    PETREL_CHECK(quantize_row(c.type, wf.data(), w.data(), n).ok());
  }
  const std::vector<float> wd = dequantize(c.type, w.data(), n);

  std::vector<uint8_t> acts(static_cast<size_t>(cpu::kMaxDotActs) * a_bytes);
  std::vector<std::vector<float>> ad;
  for (int j = 0; j < cpu::kMaxDotActs; ++j) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = rng.normal();
    if (j == 1 && n > 3) x[3] = 40.0f;  // one outlier: most quants small
    uint8_t* dst = acts.data() + j * a_bytes;
    if (c.act_type == GgmlType::Q8_K) {
      k.quantize_row_q8_K(x.data(), reinterpret_cast<BlockQ8_K*>(dst), n);
    } else {
      k.quantize_row_q8_0(x.data(), reinterpret_cast<BlockQ8_0*>(dst), n);
    }
    std::vector<uint8_t> ref(a_bytes);  // the variant's quantizer is bit-identical to the reference
    PETREL_CHECK(quantize_row(c.act_type, x.data(), ref.data(), n).ok());
    PETREL_CHECK(std::memcmp(ref.data(), dst, a_bytes) == 0);
    ad.push_back(dequantize(c.act_type, dst, n));
  }

  // Offsets of each weight (-dmin*min, -32*d*scale, -8*d) bound the float cancellation too.
  std::vector<uint8_t> zeroed = w;
  std::vector<float> off(static_cast<size_t>(n), 0.0f);
  if (c.type != GgmlType::Q8_0) {
    const int64_t nb = n / ggml_type_info(static_cast<uint32_t>(c.type))->block_size;
    for (int64_t b = 0; b < nb; ++b) {
      if (c.type == GgmlType::Q4_0) std::memset(reinterpret_cast<BlockQ4_0*>(zeroed.data())[b].qs, 0x88, QK4_0 / 2);
      if (c.type == GgmlType::Q4_K) std::memset(reinterpret_cast<BlockQ4_K*>(zeroed.data())[b].qs, 0, QK_K / 2);
      if (c.type == GgmlType::Q5_K) {
        std::memset(reinterpret_cast<BlockQ5_K*>(zeroed.data())[b].qs, 0, QK_K / 2);
        std::memset(reinterpret_cast<BlockQ5_K*>(zeroed.data())[b].qh, 0, QK_K / 8);
      }
      if (c.type == GgmlType::Q6_K) {
        std::memset(reinterpret_cast<BlockQ6_K*>(zeroed.data())[b].ql, 0, QK_K / 2);
        std::memset(reinterpret_cast<BlockQ6_K*>(zeroed.data())[b].qh, 0, QK_K / 4);
      }
    }
    off = dequantize(c.type, zeroed.data(), n);
  }

  float single[cpu::kMaxDotActs];
  for (int j = 0; j < cpu::kMaxDotActs; ++j) (k.*c.fn)(w.data(), acts.data() + j * a_bytes, n, 1, &single[j]);
  for (int n_act = 1; n_act <= cpu::kMaxDotActs; ++n_act) {
    float got[cpu::kMaxDotActs];
    (k.*c.fn)(w.data(), acts.data(), n, n_act, got);
    for (int j = 0; j < n_act; ++j) {
      double want = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        want += static_cast<double>(wd[i]) * ad[j][i];
        mag += (std::fabs(static_cast<double>(wd[i])) + std::fabs(static_cast<double>(off[i]))) * std::fabs(ad[j][i]);
      }
      const std::string what = std::string(k.name) + " dot_" + c.name + " n=" + std::to_string(n) +
                               (raw_weights ? " raw" : " quantized") + " n_act=" + std::to_string(n_act) + " j=" +
                               std::to_string(j);
      if (!(std::fabs(got[j] - want) <= 2e-6 * mag + 1e-30)) {
        test::fail(__FILE__, __LINE__, what + ": " + std::to_string(got[j]) + " vs " + std::to_string(want));
      }
      // The result for one activation row does not depend on how many were passed with it.
      if (f32_bits(got[j]) != f32_bits(single[j])) test::fail(__FILE__, __LINE__, what + ": differs from n_act=1");
    }
  }
}

PETREL_TEST(quant_dot_all_variants_match_reference) {
  Rng rng(77);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (const DotCase& c : kCases) {
      const int64_t bs = ggml_type_info(static_cast<uint32_t>(c.type))->block_size;
      for (int64_t blocks : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{14}}) {
        check_case(*k, c, blocks * bs, false, rng);
        check_case(*k, c, blocks * bs, true, rng);
      }
    }
  }
}

// The activation quantizers of every variant give the reference's bytes: ties in magnitude (the
// first one sets the sign), halfway roundings, subnormals, zeros, huge values.
PETREL_TEST(quantize_activations_bit_identical) {
  Rng rng(91);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = 4 * QK_K;
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = rng.normal() * (trial % 5 == 0 ? 1e-30f : trial % 5 == 1 ? 1e20f : 1.0f);
      if (trial % 3 == 0) {
        x[10] = 3.0f;  // a tie of magnitudes with opposite signs
        x[5] = -3.0f;
        for (int j = 0; j < QK_K; ++j) x[j] = std::fmax(-2.9f, std::fmin(2.9f, x[j])) * (j == 5 || j == 10 ? 0.0f : 1.0f);
        x[5] = -3.0f;
        x[10] = 3.0f;
      }
      if (trial % 4 == 0) std::fill(x.begin() + QK_K, x.begin() + 2 * QK_K, 0.0f);  // an all-zero block
      if (trial % 7 == 0) {
        for (int j = 0; j < QK_K; ++j) x[2 * QK_K + j] = static_cast<float>(j - 128) * 0.5f;  // exact halves after scaling
      }
      std::vector<BlockQ8_K> want(4), got(4);
      PETREL_CHECK(quantize_row(GgmlType::Q8_K, x.data(), want.data(), n).ok());
      k->quantize_row_q8_K(x.data(), got.data(), n);
      if (std::memcmp(want.data(), got.data(), sizeof(BlockQ8_K) * 4) != 0) {
        test::fail(__FILE__, __LINE__, std::string(k->name) + " quantize_row_q8_K differs (trial " + std::to_string(trial) + ")");
      }
      std::vector<BlockQ8_0> want0(static_cast<size_t>(n / QK8_0)), got0(want0.size());
      PETREL_CHECK(quantize_row(GgmlType::Q8_0, x.data(), want0.data(), n).ok());
      k->quantize_row_q8_0(x.data(), got0.data(), n);
      if (std::memcmp(want0.data(), got0.data(), sizeof(BlockQ8_0) * want0.size()) != 0) {
        test::fail(__FILE__, __LINE__, std::string(k->name) + " quantize_row_q8_0 differs (trial " + std::to_string(trial) + ")");
      }
    }
  }
}

// Activations of all zeros quantize to d = 0 blocks: every product is exactly zero.
PETREL_TEST(quant_dot_zero_activations) {
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (const DotCase& c : kCases) {
      const int64_t n = 2 * QK_K;
      std::vector<uint8_t> w(row_bytes(c.type, n), 0x5A), a(row_bytes(c.act_type, n));
      Rng rng(5);
      sanitize_scales(c.type, w.data(), n, rng);
      std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
      PETREL_CHECK(quantize_row(c.act_type, zeros.data(), a.data(), n).ok());
      float out = 1.0f;
      (k->*c.fn)(w.data(), a.data(), n, 1, &out);
      PETREL_CHECK_EQ(out, 0.0f);
    }
  }
}

}  // namespace
}  // namespace petrel
