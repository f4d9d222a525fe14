// CpuKernels::gemm_f32 of every runnable variant against a double-precision product, over the
// shapes the chunked DeltaNet uses and ragged edges (rows not a multiple of 4, columns not a
// multiple of 16 or 8), with beta 0 (C not read: starts as NaN) and beta != 0.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "quant/fp16.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

void check_gemm(const cpu::CpuKernels& k, int64_t m, int64_t n, int64_t kk, float alpha, float beta, Rng& rng) {
  const int64_t lda = kk + 3, ldb = n + 5, ldc = n + 1;
  std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(kk * ldb));
  for (auto& x : a) x = rng.normal();
  for (auto& x : b) x = rng.normal();
  std::vector<float> c(static_cast<size_t>(m * ldc));
  for (auto& x : c) x = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : rng.normal();
  const std::vector<float> c0 = c;
  k.gemm_f32(m, n, kk, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= n) {  // padding between rows is never written
        if (std::isnan(c0[i * ldc + j]) ? !std::isnan(got) : got != c0[i * ldc + j]) {
          test::fail(__FILE__, __LINE__, std::string(k.name) + " gemm wrote outside C");
        }
        continue;
      }
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < kk; ++p) {
        sum += static_cast<double>(a[i * lda + p]) * b[p * ldb + j];
        mag += std::fabs(static_cast<double>(a[i * lda + p]) * b[p * ldb + j]);
      }
      const double want = alpha * sum + (beta == 0.0f ? 0.0 : beta * static_cast<double>(c0[i * ldc + j]));
      const double c_mag = beta == 0.0f ? 0.0 : std::fabs(beta * c0[i * ldc + j]);  // c0 is NaN when beta == 0
      const double tol = 1e-5 * (std::fabs(alpha) * mag + c_mag) + 1e-30;
      if (!(std::fabs(got - want) <= tol)) {
        test::fail(__FILE__, __LINE__, std::string(k.name) + " gemm " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                                           std::to_string(kk) + " at " + std::to_string(i) + "," + std::to_string(j) + ": " +
                                           std::to_string(got) + " vs " + std::to_string(want));
        return;
      }
    }
  }
}

void check_gemm_nt(const cpu::CpuKernels& k, int64_t m, int64_t n, int64_t kk, float alpha, Rng& rng) {
  const int64_t lda = kk + 2, ldb = kk + 7, ldc = n + 3;
  std::vector<float> a(static_cast<size_t>(m * lda)), b(static_cast<size_t>(n * ldb));
  for (auto& x : a) x = rng.normal();
  for (auto& x : b) x = rng.normal();
  std::vector<float> c(static_cast<size_t>(m * ldc), std::numeric_limits<float>::quiet_NaN());
  k.gemm_nt_f32(m, n, kk, alpha, a.data(), lda, b.data(), ldb, c.data(), ldc);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= n) {
        if (!std::isnan(got)) test::fail(__FILE__, __LINE__, std::string(k.name) + " gemm_nt wrote outside C");
        continue;
      }
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < kk; ++p) {
        sum += static_cast<double>(a[i * lda + p]) * b[j * ldb + p];
        mag += std::fabs(static_cast<double>(a[i * lda + p]) * b[j * ldb + p]);
      }
      if (!(std::fabs(got - alpha * sum) <= 1e-5 * std::fabs(alpha) * mag + 1e-30)) {
        test::fail(__FILE__, __LINE__, std::string(k.name) + " gemm_nt " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                                           std::to_string(kk) + ": " + std::to_string(got) + " vs " + std::to_string(alpha * sum));
        return;
      }
    }
  }
}

PETREL_TEST(gemm_nt_f32_all_variants) {
  Rng rng(12);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    // m >= 16 takes the transposed-panel path (AVX2): n = 37 has a tail of dot tiles, k = 600 is
    // past the panel's size.
    for (int64_t m : {1, 3, 4, 9, 17, 64}) {
      for (int64_t n : {1, 2, 5, 37, 128}) {
        for (int64_t kk : {1, 7, 8, 64, 256, 600}) check_gemm_nt(*k, m, n, kk, 0.0625f, rng);
      }
    }
  }
}

// The fp16-B variants equal the float32 ones on the converted values (up to contraction of the
// scalar tails into FMAs, which the compiler may do differently in the two instantiations).
bool close(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(std::fabs(a[i] - b[i]) <= 1e-5f * (std::fabs(a[i]) + 1.0f))) return false;
  }
  return true;
}

PETREL_TEST(gemm_f16_b_all_variants) {
  Rng rng(13);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (int64_t m : {1, 4, 7, 13, 18, 29}) {
      for (int64_t n : {3, 16, 37}) {
        for (int64_t kk : {5, 64, 256}) {
          const int64_t ld = std::max(n, kk) + 3;
          std::vector<float> a(static_cast<size_t>(m * kk)), bf(static_cast<size_t>(std::max(n, kk) * ld));
          for (auto& x : a) x = rng.normal();
          for (auto& x : bf) x = rng.normal();
          std::vector<uint16_t> bh(bf.size());
          for (size_t i = 0; i < bf.size(); ++i) {
            bh[i] = fp32_to_fp16(bf[i]);
            bf[i] = fp16_to_fp32(bh[i]);
          }
          std::vector<float> want(static_cast<size_t>(m * ld), 0.5f), got = want;
          k->gemm_nt_f32(m, n, kk, 0.25f, a.data(), kk, bf.data(), ld, want.data(), ld);
          k->gemm_nt_f32_f16(m, n, kk, 0.25f, a.data(), kk, bh.data(), ld, got.data(), ld);
          if (!close(want, got)) test::fail(__FILE__, __LINE__, std::string(k->name) + " gemm_nt_f32_f16 differs");
          k->gemm_f32(m, n, kk, 1.0f, a.data(), kk, bf.data(), ld, 1.0f, want.data(), ld);
          k->gemm_f32_f16(m, n, kk, 1.0f, a.data(), kk, bh.data(), ld, 1.0f, got.data(), ld);
          if (!close(want, got)) test::fail(__FILE__, __LINE__, std::string(k->name) + " gemm_f32_f16 differs");
        }
      }
    }
  }
}

PETREL_TEST(gemm_f32_all_variants) {
  Rng rng(11);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    // AVX-512: m >= 16 runs 8-, 4- and 1-row tiles (29 takes all three), n > 16 two-register
    // strips (20 and 48: the second register masked); fewer rows the streamed few-row kernel (n % 32 == 0).
    for (int64_t m : {1, 3, 4, 7, 13, 29, 64}) {
      for (int64_t n : {1, 8, 13, 16, 20, 37, 48, 128}) {
        for (int64_t kk : {1, 5, 64, 128}) {
          check_gemm(*k, m, n, kk, 1.0f, 0.0f, rng);
          check_gemm(*k, m, n, kk, -1.0f, 1.0f, rng);
          check_gemm(*k, m, n, kk, 0.5f, 0.75f, rng);
        }
      }
    }
  }
}

}  // namespace
}  // namespace petrel
