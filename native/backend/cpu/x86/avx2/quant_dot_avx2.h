// AVX2 quantized dot products (kernels.h, CpuKernels::dot_*). Defined in quant_dot_avx2.cpp,
// which is built with the AVX2 flags; the AVX-512 table reuses them for formats it has no
// AVX-512 version of.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void dot_q4_0(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q8_0(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q4_K(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q5_K(const void* w, const void* a, int64_t n, int n_act, float* out);
void dot_q6_K(const void* w, const void* a, int64_t n, int n_act, float* out);

}  // namespace petrel::cpu::avx2
#endif
