// The gate activations of the elementwise gated multiply (Backend::gate_mul, CpuKernels::gate_mul_f32).
#pragma once

namespace petrel {

enum class GateActivation { silu, sigmoid };

}  // namespace petrel
