// AVX2 small float GEMM (kernels.h, CpuKernels::gemm_f32); the AVX-512 table reuses it.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
              float beta, float* c, int64_t ldc);

void gemm_nt_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* c, int64_t ldc);

void gemm_nt_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                     int64_t ldb, float* c, int64_t ldc);
void gemm_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                  int64_t ldb, float beta, float* c, int64_t ldc);

// panel[p][q] = B[q][p] as float for 16 rows q of B (ldb apart) and all k columns p; panel 32-byte
// aligned. The AVX-512 score products build their L1 panel with it too.
void transpose_panel16(const float* b, int64_t ldb, int64_t k, float* panel);
void transpose_panel16(const uint16_t* b, int64_t ldb, int64_t k, float* panel);

}  // namespace petrel::cpu::avx2
#endif
