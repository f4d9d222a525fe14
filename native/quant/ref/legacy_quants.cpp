// Reference (de)quantization of the 32-value block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and MXFP4,
// following ggml-quants.c operation by operation so that the bytes written and the floats read are
// identical to llama.cpp's (quantize_row_*_ref, which ggml_quantize_chunk uses without an imatrix).
// Float -> small-int casts go through int first: that is what C's direct float -> int8 conversion
// compiles to, and it keeps the C++ well-defined.
#include "quant/ref/strict_fp.h"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/ref/ref.h"

namespace petrel::ref {
namespace {

// C's float -> int conversion as x86-64 does it (cvttss2si): truncation, and INT_MIN for NaN or
// out-of-range values, which a denormal block scale (1/d = inf) can produce.
inline int cvtt_i32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<int>(v) : INT_MIN;
}

inline int8_t trunc_i8(float v) { return static_cast<int8_t>(cvtt_i32(v)); }

// Largest |x| of a block and the signed value that has it (the first one on ties).
inline void abs_max(const float* x, int n, float* amax, float* max) {
  *amax = 0.0f;
  *max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (*amax < std::fabs(x[j])) {
      *amax = std::fabs(x[j]);
      *max = x[j];
    }
  }
}

inline void min_max(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

}  // namespace

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  const int64_t nb = n / QK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * QK4_0 + j] = static_cast<float>(x0) * d;
      y[i * QK4_0 + j + QK4_0 / 2] = static_cast<float>(x1) * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  const int64_t nb = n / QK4_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const int x0 = x[i].qs[j] & 0x0F;
      const int x1 = x[i].qs[j] >> 4;
      y[i * QK4_1 + j] = static_cast<float>(x0) * d + m;
      y[i * QK4_1 + j + QK4_1 / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  const int64_t nb = n / QK5_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof qh);
    for (int j = 0; j < QK5_0 / 2; ++j) {
      const uint32_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint32_t xh1 = (qh >> (j + 12)) & 0x10;
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0Fu) | xh0) - 16;
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | xh1) - 16;
      y[i * QK5_0 + j] = static_cast<float>(x0) * d;
      y[i * QK5_0 + j + QK5_0 / 2] = static_cast<float>(x1) * d;
    }
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  const int64_t nb = n / QK5_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof qh);
    for (int j = 0; j < QK5_1 / 2; ++j) {
      const uint32_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint32_t xh1 = (qh >> (j + 12)) & 0x10;
      const int x0 = static_cast<int>((x[i].qs[j] & 0x0Fu) | xh0);
      const int x1 = static_cast<int>((x[i].qs[j] >> 4) | xh1);
      y[i * QK5_1 + j] = static_cast<float>(x0) * d + m;
      y[i * QK5_1 + j + QK5_1 / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = n / QK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_mxfp4(const BlockMxfp4* x, float* y, int64_t n) {
  const int64_t nb = n / QK_MXFP4;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = e8m0_to_fp32_half(x[i].e);
    for (int j = 0; j < QK_MXFP4 / 2; ++j) {
      y[i * QK_MXFP4 + j] = static_cast<float>(kValuesMxfp4[x[i].qs[j] & 0x0F]) * d;
      y[i * QK_MXFP4 + j + QK_MXFP4 / 2] = static_cast<float>(kValuesMxfp4[x[i].qs[j] >> 4]) * d;
    }
  }
}

// d = max / -8 so that the largest magnitude maps to -8 exactly; others round by +8.5 truncation.
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  const int64_t nb = n / QK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK4_0;
    float amax, max;
    abs_max(xb, QK4_0, &amax, &max);
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const float x0 = xb[j] * id;
      const float x1 = xb[j + QK4_0 / 2] * id;
      const int xi0 = std::min(15, static_cast<int>(trunc_i8(x0 + 8.5f)));
      const int xi1 = std::min(15, static_cast<int>(trunc_i8(x1 + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(xi0) | (static_cast<uint8_t>(xi1) << 4));
    }
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  const int64_t nb = n / QK4_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK4_1;
    float min, max;
    min_max(xb, QK4_1, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const float x0 = (xb[j] - min) * id;
      const float x1 = (xb[j + QK4_1 / 2] - min) * id;
      const int xi0 = std::min(15, static_cast<int>(trunc_i8(x0 + 0.5f)));
      const int xi1 = std::min(15, static_cast<int>(trunc_i8(x1 + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(static_cast<uint8_t>(xi0) | (static_cast<uint8_t>(xi1) << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  const int64_t nb = n / QK5_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK5_0;
    float amax, max;
    abs_max(xb, QK5_0, &amax, &max);
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_0 / 2; ++j) {
      const float x0 = xb[j] * id;
      const float x1 = xb[j + QK5_0 / 2] * id;
      const uint8_t xi0 = static_cast<uint8_t>(std::min(31, static_cast<int>(trunc_i8(x0 + 16.5f))));
      const uint8_t xi1 = static_cast<uint8_t>(std::min(31, static_cast<int>(trunc_i8(x1 + 16.5f))));
      y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + QK5_0 / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof qh);
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  const int64_t nb = n / QK5_1;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK5_1;
    float min, max;
    min_max(xb, QK5_1, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_1 / 2; ++j) {
      const float x0 = (xb[j] - min) * id;
      const float x1 = (xb[j + QK5_1 / 2] - min) * id;
      // ggml has no clamp here: (max - min) * id stays below 31.5.
      const uint8_t xi0 = static_cast<uint8_t>(cvtt_i32(x0 + 0.5f));
      const uint8_t xi1 = static_cast<uint8_t>(cvtt_i32(x1 + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= ((xi0 & 0x10u) >> 4) << j;
      qh |= ((xi1 & 0x10u) >> 4) << (j + QK5_1 / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof qh);
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  const int64_t nb = n / QK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) {
      const float a = std::fabs(xb[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(cvtt_i32(std::round(xb[j] * id)));
  }
}

namespace {

// Index of the (doubled) E2M1 code point nearest to x at scale e; the first one on ties.
inline int best_index_mxfp4(float x, float e) {
  int best_index = 0;
  float best_err = std::fabs(static_cast<float>(kValuesMxfp4[0]) * e - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kValuesMxfp4[i]) * e - x);
    if (err < best_err) {
      best_index = i;
      best_err = err;
    }
  }
  return best_index;
}

}  // namespace

void quantize_row_mxfp4(const float* x, BlockMxfp4* y, int64_t n) {
  const int64_t nb = n / QK_MXFP4;
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * QK_MXFP4;
    float amax = 0.0f;
    for (int j = 0; j < QK_MXFP4; ++j) {
      if (amax < std::fabs(xb[j])) amax = std::fabs(xb[j]);
    }
    // log2f, as ggml: the exponent must come out the same even where log2f rounds up to an integer.
    const uint8_t e = amax > 0.0f
                          ? static_cast<uint8_t>(cvtt_i32(std::floor(::log2f(amax)) - 2.0f + 127.0f))
                          : 0;
    const float d = e8m0_to_fp32_half(e);
    y[i].e = e;
    for (int j = 0; j < QK_MXFP4 / 2; ++j) {
      const int x0 = best_index_mxfp4(xb[j], d);
      const int x1 = best_index_mxfp4(xb[j + QK_MXFP4 / 2], d);
      y[i].qs[j] = static_cast<uint8_t>(x0 | (x1 << 4));
    }
  }
}

}  // namespace petrel::ref
