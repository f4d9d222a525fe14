// The generic (portable scalar) kernel table: the meaning of every kernel, and the fallback on
// CPUs without a SIMD variant. Conversions are the quant/ref/ reference functions themselves.
#include "backend/cpu/kernels.h"
#include "quant/fp16.h"
#include "quant/ref/ref.h"

namespace petrel::cpu {
namespace {

float dot_f32(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float vec_dot_q8_0_q8_0(const BlockQ8_0* a, const BlockQ8_0* b, int64_t n) {
  const int64_t nb = n / QK8_0;
  float sumf = 0.0f;
  for (int64_t ib = 0; ib < nb; ++ib) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; ++j) sumi += a[ib].qs[j] * b[ib].qs[j];
    sumf += static_cast<float>(sumi) * (fp16_to_fp32(a[ib].d) * fp16_to_fp32(b[ib].d));
  }
  return sumf;
}

const CpuKernels kGeneric = {
    "generic",
    ref::dequantize_row_f16,
    ref::dequantize_row_bf16,
    ref::dequantize_row_q8_0,
    dot_f32,
    vec_dot_q8_0_q8_0,
};

}  // namespace

const CpuKernels& cpu_kernels_generic() { return kGeneric; }

}  // namespace petrel::cpu
