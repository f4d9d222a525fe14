// AVX2 dot products over rows repacked eight at a time, and the Q4_K repacker (generic/q4_K_x8.h, generic/q6_K_x8.h).
#pragma once

#include <cstdint>

#include "backend/cpu/generic/q4_K_x8.h"
#include "backend/cpu/generic/q6_K_x8.h"

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void dot_q4_K_x8(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);
void repack_q4_K_x8(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ4_Kx8* dst);
void dot_q6_K_x8(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);

}  // namespace petrel::cpu::avx2
#endif
