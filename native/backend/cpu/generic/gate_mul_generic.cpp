// Scalar references of CpuKernels::gate_mul_f32 and exp_shift_sum_f32, with std::exp.
#include "backend/cpu/generic/gate_mul_generic.h"

#include <cmath>

namespace petrel::cpu::generic {

void gate_mul_f32(GateActivation act, const float* gate, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = gate[i];
    const float a = act == GateActivation::silu ? v / (1.0f + std::exp(-v)) : 1.0f / (1.0f + std::exp(-v));
    y[i] = x != nullptr ? a * x[i] : a;
  }
}

float exp_shift_sum_f32(const float* x, float shift, int64_t n, float* y) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - shift);
    sum += y[i];
  }
  return sum;
}

}  // namespace petrel::cpu::generic
