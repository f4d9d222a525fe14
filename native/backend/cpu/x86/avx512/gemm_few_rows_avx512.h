// AVX-512 float products with few rows of A (attention decode: the query heads of one KV head
// against keys and values streaming from memory). Each returns false, computing nothing, for a
// shape it does not take; the caller then runs another kernel.
#pragma once

#include <cstdint>

#if defined(__x86_64__)
namespace petrel::cpu::avx512 {

// C = alpha A B^T (B's rows are the keys), as CpuKernels::gemm_nt_f32 / gemm_nt_f32_f16.
bool gemm_nt_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc);
bool gemm_nt_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                      int64_t ldb, float* c, int64_t ldc);
// C = alpha A B + beta C, as CpuKernels::gemm_f32 / gemm_f32_f16.
bool gemm_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                   float beta, float* c, int64_t ldc);
bool gemm_few_rows(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                   int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace petrel::cpu::avx512
#endif
