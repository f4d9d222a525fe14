// The generic (portable scalar) kernel table: the meaning of every kernel, and the fallback on
// CPUs without a SIMD variant. Conversions are the quant/ref/ reference functions themselves.
#include "backend/cpu/kernels.h"
#include "backend/cpu/generic/gate_mul_generic.h"
#include "backend/cpu/generic/delta_step_generic.h"
#include "backend/cpu/generic/gemm_generic.h"
#include "backend/cpu/generic/quant_dot_generic.h"
#include "quant/ref/ref.h"

namespace petrel::cpu {
namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

const CpuKernels kGeneric = {
    "generic",
    ref::dequantize_row_f16,
    ref::dequantize_row_bf16,
    ref::dequantize_row_q8_0,
    dot_f32,
    generic::gemm_nt_f32,
    generic::gemm_nt_f32_f16,
    generic::gemm_f32_f16,
    generic::exp_shift_sum_f32,
    generic::gate_mul_f32,
    generic::gemm_f32,
    generic::delta_step_f32,
    ref::quantize_row_q8_0,
    ref::quantize_row_q8_K,
    generic::dot_q4_0,
    generic::dot_q8_0,
    generic::dot_q4_K,
    generic::dot_q5_K,
    generic::dot_q6_K,
    generic::dot_q4_K_x8,
    repack_q4_K_x8,
    generic::dot_q6_K_x8,
};

}  // namespace

const CpuKernels& cpu_kernels_generic() { return kGeneric; }

}  // namespace petrel::cpu
