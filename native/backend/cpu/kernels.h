// The CPU kernel table: one struct of function pointers that every ISA variant fills in full
// (generic/, x86/avx2/, x86/avx512/, arm/neon/), chosen once at run time by dispatch.cpp.
// Kernel names carry their operand formats; the scalar meaning of each is the generic variant
// (which reuses quant/ref/ for conversions). Dequantizers are bit-identical across variants;
// float reductions differ only by summation order.
//
// Rules for the per-ISA files (they are built with -mavx2 / -mavx512* / -march=armv8.2-a+...):
// keep every helper `static` and use no std:: templates or other header inline functions, so the
// linker can never pick an ISA-specific copy of shared code for callers on older CPUs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/activation.h"
#include "backend/cpu/generic/q4_K_x8.h"
#include "backend/cpu/generic/q6_K_x8.h"
#include "petrel/status.h"
#include "quant/blocks.h"

namespace petrel::cpu {

// See CpuKernels::dot_q4_0 and the other quantized dot products.
using QuantDotFn = void (*)(const void* w, const void* a, int64_t n, int n_act, float* out);
constexpr int kMaxDotActs = 4;

struct CpuKernels {
  const char* name;  // "generic", "avx2", "avx512", "neon"

  // fp16 / bf16 bits -> float32, n values (any n).
  void (*dequantize_row_f16)(const uint16_t* x, float* y, int64_t n);
  void (*dequantize_row_bf16)(const uint16_t* x, float* y, int64_t n);
  // n values, a whole number of Q8_0 blocks.
  void (*dequantize_row_q8_0)(const BlockQ8_0* x, float* y, int64_t n);

  // sum(a[i] * b[i]), any n.
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // C = alpha * A B^T: C[i][j] = alpha * sum_p A[i][p] B[j][p] for row-major A [m][k] (lda) and
  // B [n][k] (ldb), C [m][n] (ldc), written without being read (attention scores: rows of Q
  // against rows of the K cache).
  void (*gemm_nt_f32)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc);

  // The same two products with B in fp16 (an F16 KV cache), converted exactly as it is read.
  void (*gemm_nt_f32_f16)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                          int64_t ldb, float* c, int64_t ldc);
  void (*gemm_f32_f16)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const uint16_t* b,
                       int64_t ldb, float beta, float* c, int64_t ldc);

  // y[i] = e^(x[i] - shift) for n values, returning their sum (softmax numerators; x may be -inf,
  // giving 0; shift must be finite). Same e^x as gate_mul_f32.
  float (*exp_shift_sum_f32)(const float* x, float shift, int64_t n, float* y);

  // y[i] = act(gate[i]) * x[i] (x null: act(gate[i])); y may alias gate or x. silu(v) = v / (1 + e^-v),
  // sigmoid(v) = 1 / (1 + e^-v) as ggml computes them; SIMD variants use a polynomial e^x within
  // 2 ulp of std::exp.
  void (*gate_mul_f32)(GateActivation act, const float* gate, const float* x, int64_t n, float* y);

  // C = alpha * A B + beta * C for row-major A [m][k] (row stride lda), B [k][n] (ldb) and
  // C [m][n] (ldc); beta 0 writes C without reading it. Small dense products inside an op (the
  // chunked DeltaNet), not the weight matmuls; each C element is one float sum over k in order
  // of k within a variant.
  void (*gemm_f32)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc);

  // One token of the gated delta rule (docs/MODEL.md#delta-rule) on one value head's state
  // s [dk][dv], fused: m = alpha S^T k; delta = beta (v - m); S = alpha S + k delta^T;
  // out = S^T q, with out taken as alpha (S^T q) + delta (k . q) from the entering S, so the
  // state is read once and written once (32 columns at a time, both passes while they are in L1)
  // instead of three reads and a write. q is already normalised and scaled.
  void (*delta_step_f32)(float* s, int64_t dk, int64_t dv, const float* q, const float* k, const float* v, float alpha,
                         float beta, float* out);

  // Activation quantizers for the integer dot products, bit-identical to quant/ref/ (which are
  // bit-identical to ggml's): n values, a whole number of blocks.
  void (*quantize_row_q8_0)(const float* x, BlockQ8_0* y, int64_t n);
  void (*quantize_row_q8_K)(const float* x, BlockQ8_K* y, int64_t n);

  // Quantized dot products of one weight row (n values in the weight format) with n_act
  // (1..kMaxDotActs) activation rows in the format's activation type (Q8_0 for Q4_0/Q8_0, Q8_K
  // for the K-quants), stored back to back: out[j] = sum_i w[i] * a_j[i]. Integer block sums are
  // exact; each variant accumulates the float terms in its own order, and the result for one
  // activation row never depends on n_act (a row block can be split any way).
  // Q8_0 activations stay within [-127, 127] (quantize_row_q8_0), which the SIMD variants rely on.
  QuantDotFn dot_q4_0;
  QuantDotFn dot_q8_0;
  QuantDotFn dot_q4_K;
  QuantDotFn dot_q5_K;
  QuantDotFn dot_q6_K;
  // n_groups (1 or 2) consecutive groups of Q4_K rows repacked eight at a time (BlockQ4_Kx8, group
  // gi at w + gi * n / QK_K) x n_act (1..kMaxDotActs) Q8_K rows: out[(j * n_groups + gi) * 8 + r]
  // for row r of group gi and activation row j (a token's 8 * n_groups results are contiguous).
  void (*dot_q4_K_x8)(const BlockQ4_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);
  // Repacks rows [0, 8) of a Q4_K matrix (repack_q4_K_x8 in q4_K_x8.h; the same bytes): products
  // on matrices not repacked at load (MoE experts) run it per task.
  void (*repack_q4_K_x8)(const uint8_t* src, uint64_t row_bytes, int64_t cols, BlockQ4_Kx8* dst);
  // The same for Q6_K rows repacked eight at a time (BlockQ6_Kx8).
  void (*dot_q6_K_x8)(const BlockQ6_Kx8* w, int n_groups, const BlockQ8_K* a, int64_t n, int n_act, float* out);
};

// ---- the variants (each defined in its own folder) ----
const CpuKernels& cpu_kernels_generic();
#if defined(PETREL_ARCH_X86)
const CpuKernels& cpu_kernels_avx2();    // needs avx2 + fma + f16c + bmi2
const CpuKernels& cpu_kernels_avx512();  // needs avx2 base + avx512 f + bw + vl + dq + vnni
#endif
#if defined(PETREL_ARCH_ARM64)
const CpuKernels& cpu_kernels_neon();    // needs neon + dotprod
#endif

// ---- dispatch (dispatch.cpp) ----

// The table to use. Chosen on first call: the best variant this CPU runs
// (avx512 > avx2 > generic on x86, neon > generic on arm64) unless PETREL_CPU_KERNELS names one.
// If that variable is invalid, cpu_kernels_status() says why and this returns the automatic choice.
const CpuKernels& cpu_kernels();
Status cpu_kernels_status();

// Every variant compiled in that this CPU can run, generic first (the tests compare them).
std::vector<const CpuKernels*> cpu_kernels_runnable();

// The variant called `name`: invalid_argument for an unknown name, unsupported when it is not
// compiled into this build or the CPU lacks what it needs.
Status find_cpu_kernels(const std::string& name, const CpuKernels** out);

}  // namespace petrel::cpu
