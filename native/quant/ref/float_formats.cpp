// Reference conversions of the unblocked types: F32, F16, BF16 both ways; F64, I8, I16, I32 to
// float only. F16/BF16 match ggml_fp16_to_fp32_row / ggml_fp32_to_fp16_row /
// ggml_bf16_to_fp32_row / ggml_fp32_to_bf16_row_ref bit for bit (see quant/fp16.h).
#include "quant/ref/strict_fp.h"

#include <cstring>

#include "quant/fp16.h"
#include "quant/ref/ref.h"

namespace petrel::ref {

void dequantize_row_f32(const float* x, float* y, int64_t n) {
  std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// Not in ggml's to_float table; plain C conversions (round to nearest even, overflow to inf).
void dequantize_row_f64(const double* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

void dequantize_row_i8(const int8_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

void dequantize_row_i16(const int16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

void dequantize_row_i32(const int32_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i]);
}

void quantize_row_f32(const float* x, float* y, int64_t n) {
  std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

void quantize_row_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void quantize_row_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

}  // namespace petrel::ref
