// CpuKernels::delta_step_f32 of every runnable variant against the three-pass recurrence of
// qwen35-math.md §2.6 in double (m = alpha S^T k; delta = beta (v - m); S = alpha S + k delta^T;
// o = S^T q with the new S), for the 0.8B head shape and a width that is not a multiple of 32,
// over several steps so the state carries forward.
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

void check_delta_step(const cpu::CpuKernels& kern, int64_t dk, int64_t dv, Rng& rng) {
  std::vector<float> s(static_cast<size_t>(dk * dv));
  for (auto& x : s) x = rng.normal() * 0.1f;
  std::vector<double> ref(s.begin(), s.end());
  for (int step = 0; step < 4; ++step) {
    std::vector<float> q(static_cast<size_t>(dk)), k(static_cast<size_t>(dk)), v(static_cast<size_t>(dv)), out(static_cast<size_t>(dv));
    for (auto& x : q) x = rng.normal() * 0.09f;  // l2-normalised vectors of 128 have entries ~0.09
    for (auto& x : k) x = rng.normal() * 0.09f;
    for (auto& x : v) x = rng.normal();
    const float alpha = std::exp(-rng.uniform()), beta = rng.uniform();
    kern.delta_step_f32(s.data(), dk, dv, q.data(), k.data(), v.data(), alpha, beta, out.data());
    std::vector<double> delta(static_cast<size_t>(dv));
    for (int64_t j = 0; j < dv; ++j) {
      double m = 0;
      for (int64_t i = 0; i < dk; ++i) m += ref[i * dv + j] * k[i];
      delta[j] = beta * (v[j] - alpha * m);
    }
    for (int64_t i = 0; i < dk; ++i) {
      for (int64_t j = 0; j < dv; ++j) ref[i * dv + j] = alpha * ref[i * dv + j] + k[i] * delta[j];
    }
    for (int64_t j = 0; j < dv; ++j) {
      double o = 0, mag = 0;
      for (int64_t i = 0; i < dk; ++i) {
        o += ref[i * dv + j] * q[i];
        mag += std::fabs(ref[i * dv + j] * q[i]);
      }
      if (!(std::fabs(out[j] - o) <= 1e-5 * mag + 1e-6)) {
        test::fail(__FILE__, __LINE__, std::string(kern.name) + " delta_step dv=" + std::to_string(dv) + " step " + std::to_string(step) +
                                           " out[" + std::to_string(j) + "] " + std::to_string(out[j]) + " vs " + std::to_string(o));
        return;
      }
    }
    for (int64_t i = 0; i < dk * dv; ++i) {
      if (!(std::fabs(s[i] - ref[i]) <= 1e-5 * (std::fabs(ref[i]) + 0.1))) {
        test::fail(__FILE__, __LINE__, std::string(kern.name) + " delta_step dv=" + std::to_string(dv) + " state " + std::to_string(i));
        return;
      }
    }
  }
}

PETREL_TEST(delta_step_all_variants) {
  Rng rng(17);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    check_delta_step(*k, 128, 128, rng);
    check_delta_step(*k, 64, 40, rng);
  }
}

}  // namespace
}  // namespace petrel
