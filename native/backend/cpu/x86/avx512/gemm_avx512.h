// AVX-512 small float GEMMs: CpuKernels::gemm_f32 / gemm_f32_f16 (C = alpha A B + beta C) and
// gemm_nt_f32 / gemm_nt_f32_f16 (C = alpha A B^T).
#pragma once

#include <cstdint>

#if defined(__x86_64__)
namespace petrel::cpu::avx512 {

void gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
              float beta, float* c, int64_t ldc);
void gemm_nt_f32(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* c, int64_t ldc);
void gemm_nt_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                     int64_t ldb, float* c, int64_t ldc);
void gemm_f32_f16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                  int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace petrel::cpu::avx512
#endif
