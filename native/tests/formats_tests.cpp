// Tensor-format tests (run: petrel_tests formats): fp16/bf16 conversion against ggml's own float
// algorithm and hand-picked edge cases (inf, NaN, subnormals, ties); every SIMD kernel variant
// this CPU runs against the generic one on random data with odd lengths; quantize -> dequantize
// error bounds for every quantizer; convert.h argument checks; dispatch; the CUDA library when
// a device is present. Bit-exactness against llama.cpp itself is test/native/formats.test.ts.
#include "quant/ref/strict_fp.h"  // the ggml fp16 algorithm copied below must not be FMA-contracted

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/cuda_loader.h"
#include "quant/convert.h"
#include "quant/fp16.h"
#include "quant/ref/ref.h"
#include "tests/test.h"

namespace petrel {
namespace {

// ---- helpers -------------------------------------------------------------------------------------

using test::Rng;

// ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16 (ggml-impl.h), verbatim in C++ form:
// the oracle for the integer versions in quant/fp16.h.
float ggml_fp16_to_fp32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized_value = f32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized_value = f32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? f32_bits(denormalized_value) : f32_bits(normalized_value));
  return f32_from_bits(result);
}

uint16_t ggml_fp32_to_fp16(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = f32_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f32_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

bool same_bits(const float* a, const float* b, size_t n, size_t* where) {
  for (size_t i = 0; i < n; ++i) {
    if (f32_bits(a[i]) != f32_bits(b[i])) {
      *where = i;
      return false;
    }
  }
  return true;
}

std::vector<BlockQ8_0> random_q8_0(Rng& rng, int64_t blocks, int lo, int hi) {
  std::vector<BlockQ8_0> v(static_cast<size_t>(blocks));
  for (auto& b : v) {
    b.d = fp32_to_fp16(0.001f + rng.uniform() * 0.05f);
    for (auto& q : b.qs) q = static_cast<int8_t>(lo + static_cast<int>(rng.u32() % static_cast<uint32_t>(hi - lo + 1)));
  }
  return v;
}

std::string describe(const char* what, const char* variant, int64_t n, size_t at) {
  return std::string(what) + " differs for " + variant + " (n=" + std::to_string(n) + ", index " + std::to_string(at) + ")";
}

// ---- fp16 / bf16 ----------------------------------------------------------------------------------

PETREL_TEST(formats_fp16_to_fp32_all_halves_match_ggml) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t ours = f32_bits(fp16_to_fp32(static_cast<uint16_t>(h)));
    const uint32_t theirs = f32_bits(ggml_fp16_to_fp32(static_cast<uint16_t>(h)));
    if (ours != theirs) {
      test::fail(__FILE__, __LINE__, "fp16_to_fp32 differs from ggml at half 0x" + std::to_string(h));
      return;
    }
  }
}

PETREL_TEST(formats_fp32_to_fp16_matches_ggml) {
  // A strided sweep over every exponent and sign (the exhaustive 2^32 sweep passes too but is slow),
  // plus the region around every fp16 rounding boundary.
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 997) {
    const float f = f32_from_bits(static_cast<uint32_t>(u));
    if (fp32_to_fp16(f) != ggml_fp32_to_fp16(f)) {
      test::fail(__FILE__, __LINE__, "fp32_to_fp16 differs from ggml at bits " + std::to_string(u));
      return;
    }
  }
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    // halfway between h and h+1 (in fp32 bits), and one ulp either side
    const uint32_t lo = f32_bits(fp16_to_fp32(static_cast<uint16_t>(h)));
    const uint32_t hi = f32_bits(fp16_to_fp32(static_cast<uint16_t>(h + 1)));
    const uint32_t mid = lo + (hi - lo) / 2;
    for (uint32_t u : {mid - 1, mid, mid + 1, mid | 0x80000000u}) {
      const float f = f32_from_bits(u);
      PETREL_CHECK_EQ(fp32_to_fp16(f), ggml_fp32_to_fp16(f));
    }
  }
}

PETREL_TEST(formats_fp16_edge_cases) {
  PETREL_CHECK_EQ(fp32_to_fp16(0.0f), 0x0000);
  PETREL_CHECK_EQ(fp32_to_fp16(-0.0f), 0x8000);
  PETREL_CHECK_EQ(fp32_to_fp16(1.0f), 0x3C00);
  PETREL_CHECK_EQ(fp32_to_fp16(65504.0f), 0x7BFF);       // largest finite
  PETREL_CHECK_EQ(fp32_to_fp16(65519.99f), 0x7BFF);
  PETREL_CHECK_EQ(fp32_to_fp16(65520.0f), 0x7C00);       // the tie rounds to even = inf
  PETREL_CHECK_EQ(fp32_to_fp16(1e10f), 0x7C00);
  PETREL_CHECK_EQ(fp32_to_fp16(-INFINITY), 0xFC00);
  PETREL_CHECK_EQ(fp32_to_fp16(NAN), 0x7E00);            // payload dropped, like ggml
  PETREL_CHECK_EQ(fp32_to_fp16(f32_from_bits(0xFF800123u)), 0xFE00);
  PETREL_CHECK_EQ(fp32_to_fp16(0x1p-24f), 0x0001);       // smallest subnormal
  PETREL_CHECK_EQ(fp32_to_fp16(0x1p-25f), 0x0000);       // tie to even: 0
  PETREL_CHECK_EQ(fp32_to_fp16(0x1.000002p-25f), 0x0001);
  PETREL_CHECK_EQ(fp32_to_fp16(0x1.8p-24f), 0x0002);     // 1.5 ulp: tie to even 2
  PETREL_CHECK_EQ(fp32_to_fp16(0x1.4p-23f), 0x0002);     // 2.5 ulp: tie to even 2
  PETREL_CHECK_EQ(fp32_to_fp16(0x1p-14f), 0x0400);       // smallest normal
  PETREL_CHECK_EQ(fp32_to_fp16(0x1.ff8p-15f), 0x03FF);   // largest subnormal
  PETREL_CHECK_EQ(fp32_to_fp16(0x1.ffcp-15f), 0x0400);   // halfway to the smallest normal: even
  PETREL_CHECK_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);        // tie to even (down)
  PETREL_CHECK_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);    // tie to even (up)
  PETREL_CHECK_EQ(fp32_to_fp16(1e-30f), 0x0000);
  PETREL_CHECK_EQ(f32_bits(fp16_to_fp32(0x7C00)), 0x7F800000u);
  PETREL_CHECK_EQ(f32_bits(fp16_to_fp32(0xFC00)), 0xFF800000u);
  PETREL_CHECK_EQ(f32_bits(fp16_to_fp32(0x7C01)), 0x7FC02000u);  // signalling NaN comes back quiet
  PETREL_CHECK_EQ(f32_bits(fp16_to_fp32(0x0001)), f32_bits(0x1p-24f));
  PETREL_CHECK_EQ(f32_bits(fp16_to_fp32(0x8000)), 0x80000000u);
}

PETREL_TEST(formats_bf16_edge_cases) {
  PETREL_CHECK_EQ(fp32_to_bf16(1.0f), 0x3F80);
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x3F808000u)), 0x3F80);  // tie, even stays
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x3F808001u)), 0x3F81);
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x7F7FFFFFu)), 0x7F80);  // overflow to inf
  PETREL_CHECK_EQ(fp32_to_bf16(INFINITY), 0x7F80);
  PETREL_CHECK_EQ(fp32_to_bf16(-INFINITY), 0xFF80);
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x7F800001u)), 0x7FC0);  // sNaN -> quiet
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0xFFC12345u)), 0xFFC1);  // payload truncated
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x00008000u)), 0x0000);  // subnormal tie to even
  PETREL_CHECK_EQ(fp32_to_bf16(f32_from_bits(0x00018000u)), 0x0002);
  PETREL_CHECK_EQ(fp32_to_bf16(-0.0f), 0x8000);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) PETREL_CHECK_EQ(fp32_to_bf16(f), h);  // exact round trip
  }
}

// ---- SIMD variants against generic ----------------------------------------------------------------

PETREL_TEST(formats_kernel_variants_dequantize_bit_exact) {
  const cpu::CpuKernels& gen = cpu::cpu_kernels_generic();
  std::vector<uint16_t> all(65536 + 13);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i * 40503u);  // odd stride: every value
  Rng rng(1);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{9}, int64_t{31}, int64_t{33}, int64_t{65549}}) {
      std::vector<float> want(static_cast<size_t>(n) + 1), got(static_cast<size_t>(n) + 1, 0.0f);
      size_t at = 0;
      gen.dequantize_row_f16(all.data(), want.data(), n);
      k->dequantize_row_f16(all.data(), got.data(), n);
      if (!same_bits(want.data(), got.data(), static_cast<size_t>(n), &at)) test::fail(__FILE__, __LINE__, describe("f16", k->name, n, at));
      gen.dequantize_row_bf16(all.data(), want.data(), n);
      k->dequantize_row_bf16(all.data(), got.data(), n);
      if (!same_bits(want.data(), got.data(), static_cast<size_t>(n), &at)) test::fail(__FILE__, __LINE__, describe("bf16", k->name, n, at));
      PETREL_CHECK_EQ(f32_bits(got[static_cast<size_t>(n)]), 0u);  // nothing written past n
    }
    for (int64_t blocks : {int64_t{1}, int64_t{3}, int64_t{37}}) {
      std::vector<BlockQ8_0> q = random_q8_0(rng, blocks, -128, 127);
      q[0].d = 0x7C01;  // NaN scale: quiet NaN everywhere, same bits
      if (blocks > 1) q[1].d = 0x0001;  // subnormal scale
      const int64_t n = blocks * QK8_0;
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      gen.dequantize_row_q8_0(q.data(), want.data(), n);
      k->dequantize_row_q8_0(q.data(), got.data(), n);
      size_t at = 0;
      if (!same_bits(want.data(), got.data(), static_cast<size_t>(n), &at)) test::fail(__FILE__, __LINE__, describe("q8_0", k->name, n, at));
    }
  }
}

PETREL_TEST(formats_kernel_variants_dot_products) {
  const cpu::CpuKernels& gen = cpu::cpu_kernels_generic();
  Rng rng(2);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{15}, int64_t{63}, int64_t{97}, int64_t{1027}}) {
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      double mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        a[i] = rng.normal();
        b[i] = rng.normal();
        mag += std::fabs(static_cast<double>(a[i]) * b[i]);
      }
      const float want = gen.dot_f32(a.data(), b.data(), n);
      const float got = k->dot_f32(a.data(), b.data(), n);
      if (!(std::fabs(static_cast<double>(want) - got) <= 1e-6 * mag + 1e-30)) {
        test::fail(__FILE__, __LINE__, std::string("dot_f32 ") + k->name + " n=" + std::to_string(n) + ": " + std::to_string(got) +
                                           " vs " + std::to_string(want));
      }
    }
  }
}

PETREL_TEST(formats_dispatch) {
  const cpu::CpuKernels* k = nullptr;
  PETREL_CHECK_EQ(cpu::find_cpu_kernels("generic", &k).code(), StatusCode::ok);
  PETREL_CHECK(k == &cpu::cpu_kernels_generic());
  PETREL_CHECK_EQ(cpu::find_cpu_kernels("sse9", &k).code(), StatusCode::invalid_argument);
#if defined(PETREL_ARCH_X86)
  PETREL_CHECK_EQ(cpu::find_cpu_kernels("neon", &k).code(), StatusCode::unsupported);
  const CpuFeatures& f = cpu_features();
  PETREL_CHECK_EQ(cpu::find_cpu_kernels("avx2", &k).ok(), f.avx2 && f.fma && f.f16c && f.bmi2);
#endif
  bool chosen_is_runnable = false;
  for (const cpu::CpuKernels* r : cpu::cpu_kernels_runnable()) chosen_is_runnable |= (r == &cpu::cpu_kernels());
  PETREL_CHECK(chosen_is_runnable);
  std::printf("  cpu features: ");
  for (const auto& name : cpu_feature_names(cpu_features())) std::printf("%s ", name.c_str());
  std::printf("\n  cpu kernels: %s (runnable:", cpu::cpu_kernels().name);
  for (const cpu::CpuKernels* r : cpu::cpu_kernels_runnable()) std::printf(" %s", r->name);
  std::printf(")\n");
}

// ---- quantize -> dequantize -------------------------------------------------------------------------

struct Bound {
  GgmlType type;
  double max_rel_rmse;  // RMSE / RMS of the input, Gaussian data
};

PETREL_TEST(formats_quantize_round_trip_error) {
  // Bounds are about 1.4x what these quantizers reach on N(0,1) data (q4_K: 0.070, q6_K: 0.018).
  const Bound bounds[] = {
      {GgmlType::F32, 0.0},      {GgmlType::F16, 3e-4},     {GgmlType::BF16, 2.3e-3}, {GgmlType::Q8_0, 7.5e-3},
      {GgmlType::Q4_0, 0.12},    {GgmlType::Q4_1, 0.11},    {GgmlType::Q5_0, 0.06},   {GgmlType::Q5_1, 0.053},
      {GgmlType::MXFP4, 0.16},   {GgmlType::Q2_K, 0.42},    {GgmlType::Q3_K, 0.21},   {GgmlType::Q4_K, 0.1},
      {GgmlType::Q5_K, 0.05},    {GgmlType::Q6_K, 0.025},   {GgmlType::Q8_K, 9.5e-3}, {GgmlType::IQ4_NL, 0.11},
      {GgmlType::IQ4_XS, 0.11},
  };
  const int64_t n = 4096;
  Rng rng(3);
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = rng.normal();
  for (const Bound& b : bounds) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(b.type));
    PETREL_CHECK(can_quantize(b.type) && can_dequantize(b.type));
    std::vector<uint8_t> q(static_cast<size_t>(n / info->block_size * info->type_size));
    PETREL_CHECK(quantize_row(b.type, x.data(), q.data(), n).ok());
    PETREL_CHECK(dequantize_row(b.type, q.data(), y.data(), n).ok());
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
      ref += static_cast<double>(x[i]) * x[i];
    }
    const double rel = std::sqrt(err / ref);
    if (!(rel <= b.max_rel_rmse)) {
      test::fail(__FILE__, __LINE__, std::string(info->name) + " round-trip relative RMSE " + std::to_string(rel) + " > " +
                                         std::to_string(b.max_rel_rmse));
    }
  }
}

PETREL_TEST(formats_quantize_special_blocks) {
  // All-zero, constant, one-outlier and denormal-only rows must quantize (no NaN, no crash) and
  // come back close; zeros must come back as exact zeros.
  const int64_t n = 512;
  std::vector<float> zero(n, 0.0f), constant(n, 0.75f), outlier(n), tiny(n);
  Rng rng(4);
  for (int64_t i = 0; i < n; ++i) {
    outlier[i] = 0.01f * rng.normal();
    tiny[i] = f32_from_bits(1 + rng.u32() % 1000) * (i % 2 ? 1.0f : -1.0f);  // fp32 subnormals
  }
  outlier[100] = 1000.0f;
  size_t count = 0;
  const GgmlTypeInfo* table = ggml_type_table(&count);
  for (size_t t = 0; t < count; ++t) {
    if (!can_quantize(table[t].type)) continue;
    const GgmlTypeInfo& info = table[t];
    std::vector<uint8_t> q(static_cast<size_t>(n / info.block_size * info.type_size));
    std::vector<float> y(n);
    for (const std::vector<float>* row : {&zero, &constant, &outlier, &tiny}) {
      PETREL_CHECK(quantize_row(info.type, row->data(), q.data(), n).ok());
      PETREL_CHECK(dequantize_row(info.type, q.data(), y.data(), n).ok());
      for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(y[i])) {
          test::fail(__FILE__, __LINE__, std::string(info.name) + ": non-finite output");
          break;
        }
      }
      if (row == &zero) {
        for (int64_t i = 0; i < n; ++i) PETREL_CHECK(y[i] == 0.0f);
      }
    }
    PETREL_CHECK(std::fabs(y[0]) < 1e-30f);  // tiny row: within a hair of zero
  }
}

// ---- convert.h argument handling ------------------------------------------------------------------

PETREL_TEST(formats_convert_arguments) {
  std::vector<float> x(64, 1.0f), y(64);
  std::vector<uint8_t> q(4096);
  PETREL_CHECK_EQ(quantize_row(GgmlType::Q4_0, x.data(), q.data(), 31).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(quantize_row(GgmlType::Q4_0, x.data(), q.data(), -32).code(), StatusCode::invalid_argument);
  PETREL_CHECK_EQ(quantize_row(GgmlType::IQ2_XXS, x.data(), q.data(), 256).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(dequantize_row(GgmlType::IQ2_XXS, q.data(), y.data(), 256).code(), StatusCode::unsupported);
  PETREL_CHECK_EQ(dequantize_row(static_cast<GgmlType>(4), q.data(), y.data(), 32).code(), StatusCode::unsupported);
  PETREL_CHECK(quantize_row(GgmlType::Q8_0, x.data(), q.data(), 0).ok());
  x[5] = NAN;
  PETREL_CHECK_EQ(quantize_row(GgmlType::Q8_0, x.data(), q.data(), 64).code(), StatusCode::invalid_argument);
  PETREL_CHECK(quantize_row(GgmlType::F16, x.data(), q.data(), 64).ok());  // NaN is a valid f16
  x[5] = 1.0f;
  PETREL_CHECK(!can_quantize(GgmlType::Q8_1));
  PETREL_CHECK(can_dequantize(GgmlType::Q4_K) && can_quantize(GgmlType::Q4_K));

  // Misaligned input and output go through a bounce buffer and give the same bytes / floats.
  Rng rng(5);
  std::vector<float> src(QK_K * 300);
  for (auto& v : src) v = rng.normal();
  const int64_t n = static_cast<int64_t>(src.size());
  for (GgmlType t : {GgmlType::Q8_K, GgmlType::Q4_K, GgmlType::F16, GgmlType::Q5_0}) {
    const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t));
    const size_t bytes = static_cast<size_t>(n / info->block_size * info->type_size);
    std::vector<uint8_t> aligned(bytes + 8), shifted(bytes + 8);
    PETREL_CHECK(quantize_row(t, src.data(), aligned.data(), n).ok());
    PETREL_CHECK(quantize_row(t, src.data(), shifted.data() + 1, n).ok());
    PETREL_CHECK(std::memcmp(aligned.data(), shifted.data() + 1, bytes) == 0);
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    PETREL_CHECK(dequantize_row(t, aligned.data(), a.data(), n).ok());
    PETREL_CHECK(dequantize_row(t, shifted.data() + 1, b.data(), n).ok());
    size_t at = 0;
    PETREL_CHECK(same_bits(a.data(), b.data(), a.size(), &at));
  }
}

// ---- CUDA (only with a device) --------------------------------------------------------------------

PETREL_TEST(formats_cuda_dequantize_q8_0) {
  const CudaProbe& probe = cuda_probe();
  if (!cuda_available()) {
    std::printf("  cuda: not available (%s)\n", probe.reason.c_str());
    test::skip("no CUDA device");
    return;
  }
  std::printf("  cuda: %s, device 0 = %s\n", probe.library_path.c_str(), probe.device_names[0].c_str());
  Rng rng(6);
  const int64_t blocks = 1001;
  std::vector<BlockQ8_0> q = random_q8_0(rng, blocks, -128, 127);
  q[3].d = 0x0001;
  const int64_t n = blocks * QK8_0;
  std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
  ref::dequantize_row_q8_0(q.data(), want.data(), n);
  PETREL_CHECK(cuda_dequantize_q8_0(q.data(), got.data(), n).ok());
  size_t at = 0;
  if (!same_bits(want.data(), got.data(), want.size(), &at)) test::fail(__FILE__, __LINE__, describe("cuda q8_0", "cuda", n, at));
  PETREL_CHECK_EQ(cuda_dequantize_q8_0(q.data(), got.data(), 33).code(), StatusCode::invalid_argument);
}

}  // namespace
}  // namespace petrel
