// The portable quantized dot products (kernels.h, CpuKernels::dot_*), shared by the generic
// table and by variants that have no SIMD version of a format yet.
#pragma once

#include <cstdint>

namespace petrel::cpu::generic {

void dot_q4_0(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q8_0(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q4_K(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q5_K(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q6_K(const void* w, const void* a, int64_t n, int n_act, float* out);

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (12 packed bytes).
void unpack_k4_scales(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]);

}  // namespace petrel::cpu::generic
