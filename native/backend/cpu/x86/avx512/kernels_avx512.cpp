// AVX-512 kernel table (Ice Lake / Sapphire Rapids / Zen 4 and later). Built with AVX-512
// F/BW/VL/DQ/VNNI flags, exactly what dispatch.cpp requires (plus the AVX2 / FMA / F16C base).
// Helpers are static (see kernels.h).
// native/CMakeLists.txt compiles this folder (globbed on its own, not recursively), with these
// flags, for x86-64 targets only; the #if keeps the file empty should it be built for another.
#if defined(__x86_64__)

// GCC 12's AVX-512 headers trip false -W(maybe-)uninitialized warnings (their _mm512_undefined_*
// pass-through operands); silence them for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/x86/avx512/gemm_avx512.h"
#include "backend/cpu/x86/avx512/quantize_avx512.h"
#include "backend/cpu/x86/avx512/repacked_dot_avx512.h"

namespace petrel::cpu {
namespace {

static void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
}

static void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    y[i] = f;
  }
}

static void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = n / QK8_0;
  for (int64_t ib = 0; ib < nb; ++ib) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(x[ib].d));
    for (int k = 0; k < QK8_0; k += 16) {
      const __m128i q8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[ib].qs + k));
      const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8));
      _mm512_storeu_ps(y + ib * QK8_0 + k, _mm512_mul_ps(q, d));
    }
  }
}

static float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// The AVX2 table with the AVX-512 kernels in place of theirs where those pay (docs/PERFORMANCE.md);
// the others run as AVX2 (every AVX-512 CPU dispatch accepts also has AVX2). Built on first use,
// never at static initialisation: this file is compiled for AVX-512, so even copying the table
// may use instructions older CPUs lack, and only dispatch.cpp, after checking the CPU, asks for it.
CpuKernels make_avx512_table() {
  CpuKernels k = cpu_kernels_avx2();
  k.name = "avx512";
  k.dequantize_row_f16 = dequantize_row_f16;
  k.dequantize_row_bf16 = dequantize_row_bf16;
  k.dequantize_row_q8_0 = dequantize_row_q8_0;
  k.dot_f32 = dot_f32;
  k.gemm_nt_f32 = avx512::gemm_nt_f32;
  k.gemm_nt_f32_f16 = avx512::gemm_nt_f32_f16;
  k.gemm_f32 = avx512::gemm_f32;
  k.gemm_f32_f16 = avx512::gemm_f32_f16;
  k.quantize_row_q8_K = avx512::quantize_row_q8_K;
  k.dot_q4_K_x8 = avx512::dot_q4_K_x8;
  k.dot_q6_K_x8 = avx512::dot_q6_K_x8;
  return k;
}

}  // namespace

const CpuKernels& cpu_kernels_avx512() {
  static const CpuKernels table = make_avx512_table();
  return table;
}

}  // namespace petrel::cpu

#endif  // defined(__x86_64__)
