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

}  // namespace
}  // namespace petrel
