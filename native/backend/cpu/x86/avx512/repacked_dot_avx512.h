// AVX-512 VNNI dot products over rows repacked eight at a time (generic/q4_K_x8.h, generic/q6_K_x8.h).
#pragma once

#include <cstdint>

#include "backend/cpu/generic/q4_K_x8.h"
#include "backend/cpu/generic/q6_K_x8.h"

#if defined(__x86_64__)
namespace petrel::cpu::avx512 {

void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);
void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);

}  // namespace petrel::cpu::avx512
#endif
