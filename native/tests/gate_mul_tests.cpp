// CpuKernels::gate_mul_f32 of every runnable variant against silu / sigmoid in double, over
// ordinary values and the saturated tails (|v| up to 1e4, where e^-v overflows float: results
// below 1e-30 count as 0, which std::exp and the polynomial both give); y aliasing x works.
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

PETREL_TEST(gate_mul_all_variants) {
  Rng rng(3);
  std::vector<float> gate, x;
  for (int i = 0; i < 1000; ++i) gate.push_back(rng.normal() * 4.0f);
  for (float v : {0.0f, -0.0f, 20.0f, -20.0f, 87.0f, -87.0f, 89.0f, -89.0f, 1e4f, -1e4f, 1e-30f}) gate.push_back(v);
  for (size_t i = 0; i < gate.size(); ++i) x.push_back(rng.normal());
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    for (GateActivation act : {GateActivation::silu, GateActivation::sigmoid}) {
      for (bool with_x : {false, true}) {
        std::vector<float> y = x;  // aliasing: y is x
        k->gate_mul_f32(act, gate.data(), with_x ? y.data() : nullptr, static_cast<int64_t>(gate.size()), y.data());
        for (size_t i = 0; i < gate.size(); ++i) {
          const double v = gate[i];
          const double a = act == GateActivation::silu ? v / (1.0 + std::exp(-v)) : 1.0 / (1.0 + std::exp(-v));
          const double want = with_x ? a * x[i] : a;
          if (!(std::fabs(y[i] - want) <= 4e-7 * std::fabs(want) + 1e-30)) {
            test::fail(__FILE__, __LINE__, std::string(k->name) + (act == GateActivation::silu ? " silu" : " sigmoid") +
                                               " at " + std::to_string(gate[i]) + ": " + std::to_string(y[i]) + " vs " +
                                               std::to_string(want));
            break;
          }
        }
      }
    }
  }
}

// exp_shift_sum_f32: e^(x - shift) and its sum, -inf giving 0, deep negatives underflowing to 0.
PETREL_TEST(exp_shift_sum_all_variants) {
  Rng rng(4);
  std::vector<float> x;
  for (int i = 0; i < 300; ++i) x.push_back(rng.normal() * 10.0f);
  for (float v : {-INFINITY, -200.0f, -87.5f, -86.9f, 0.0f}) x.push_back(v);
  const float shift = 3.0f;
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    std::vector<float> y(x.size());
    const float sum = k->exp_shift_sum_f32(x.data(), shift, static_cast<int64_t>(x.size()), y.data());
    double want_sum = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(static_cast<double>(x[i] - shift));  // the difference is taken in float
      want_sum += want;
      if (!(std::fabs(y[i] - want) <= 4e-7 * want + 1e-37)) {
        test::fail(__FILE__, __LINE__, std::string(k->name) + " exp at " + std::to_string(x[i]) + ": " + std::to_string(y[i]));
        break;
      }
    }
    if (!(std::fabs(sum - want_sum) <= 1e-6 * want_sum)) test::fail(__FILE__, __LINE__, std::string(k->name) + " exp sum");
  }
}

}  // namespace
}  // namespace petrel
