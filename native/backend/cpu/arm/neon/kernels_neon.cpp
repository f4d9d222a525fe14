// NEON kernel table for arm64 with the dot-product extension (Cortex-A76 / Neoverse N1 / Apple M1
// and later). Built with -march=armv8.2-a+dotprod+fp16; dispatch.cpp only picks it when the CPU
// reports asimd + asimddp. Helpers are static (see kernels.h).
// native/CMakeLists.txt compiles this folder (globbed on its own, not recursively), with these
// flags, for arm64 targets only; the #if keeps the file empty should it be built for another.
#if defined(__aarch64__)

#include <arm_neon.h>

#include "backend/cpu/kernels.h"

namespace petrel::cpu {
namespace {

static inline float half_to_float(uint16_t h) {
  float16_t f;
  __builtin_memcpy(&f, &h, sizeof f);
  return static_cast<float>(f);
}

// fcvtl (f16 -> f32) is exact and quiets NaNs, like the reference.
static void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
    vst1q_f32(y + i, vcvt_f32_f16(vget_low_f16(h)));
    vst1q_f32(y + i + 4, vcvt_high_f32_f16(h));
  }
  for (; i < n; ++i) y[i] = half_to_float(x[i]);
}

static void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(x + i);
    vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(y + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
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
    const float d = half_to_float(x[ib].d);
    for (int k = 0; k < QK8_0; k += 16) {
      const int8x16_t q = vld1q_s8(x[ib].qs + k);
      const int16x8_t lo = vmovl_s8(vget_low_s8(q));
      const int16x8_t hi = vmovl_high_s8(q);
      float* out = y + ib * QK8_0 + k;
      vst1q_f32(out + 0, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
      vst1q_f32(out + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
      vst1q_f32(out + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
      vst1q_f32(out + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
    }
  }
}

static float dot_f32(const float* a, const float* b, int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0), acc2 = vdupq_n_f32(0), acc3 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// sdot: signed x signed bytes, 4 products per int32 lane, exact for every int8 value.

// Q8_0 weights x Q8_0 activations with sdot: 4 products per int32 lane, exact.
static float dot_row_q8_0(const BlockQ8_0* a, const BlockQ8_0* b, int64_t nb) {
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t ib = 0; ib < nb; ++ib) {
    int32x4_t sumi = vdupq_n_s32(0);
    sumi = vdotq_s32(sumi, vld1q_s8(a[ib].qs), vld1q_s8(b[ib].qs));
    sumi = vdotq_s32(sumi, vld1q_s8(a[ib].qs + 16), vld1q_s8(b[ib].qs + 16));
    const float d = half_to_float(a[ib].d) * half_to_float(b[ib].d);
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
  }
  return vaddvq_f32(acc);
}

static void dot_q8_0(const void* w, const void* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / QK8_0;
  for (int j = 0; j < n_act; ++j) {
    out[j] = dot_row_q8_0(static_cast<const BlockQ8_0*>(w), static_cast<const BlockQ8_0*>(a) + j * nb, nb);
  }
}

// The generic table with the kernels above in place of theirs; the rest have no NEON version yet.
// Built on first use, never at static initialisation: this file is compiled for dotprod + fp16,
// and only dispatch.cpp, after checking the CPU, asks for it.
CpuKernels make_neon_table() {
  CpuKernels k = cpu_kernels_generic();
  k.name = "neon";
  k.dequantize_row_f16 = dequantize_row_f16;
  k.dequantize_row_bf16 = dequantize_row_bf16;
  k.dequantize_row_q8_0 = dequantize_row_q8_0;
  k.dot_f32 = dot_f32;
  k.dot_q8_0 = dot_q8_0;
  return k;
}

}  // namespace

const CpuKernels& cpu_kernels_neon() {
  static const CpuKernels table = make_neon_table();
  return table;
}

}  // namespace petrel::cpu

#endif  // defined(__aarch64__)
