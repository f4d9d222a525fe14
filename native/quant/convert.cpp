// convert.h: checks the arguments, then dispatches on the type to the reference conversion in
// quant/ref/. Input whose address is not aligned for its block struct (a Uint8Array at an odd
// offset, say) goes through an aligned bounce buffer a slice at a time.
#include "quant/convert.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "quant/ref/ref.h"

namespace petrel {
namespace {

using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

template <typename T, void (*F)(const T*, float*, int64_t)>
void dequantize_thunk(const void* src, float* dst, int64_t n) {
  F(static_cast<const T*>(src), dst, n);
}

template <typename T, void (*F)(const float*, T*, int64_t)>
void quantize_thunk(const float* src, void* dst, int64_t n) {
  F(src, static_cast<T*>(dst), n);
}

struct Converter {
  GgmlType type;
  size_t align;          // alignof the block struct / element
  DequantizeFn dequantize;
  QuantizeFn quantize;   // nullptr: petrel does not write this type
  bool needs_finite;     // block formats: NaN / inf input has no defined encoding
};

#define PETREL_DQ(T, fn) &dequantize_thunk<T, ref::fn>
#define PETREL_Q(T, fn) &quantize_thunk<T, ref::fn>

const Converter kConverters[] = {
    {GgmlType::F32, alignof(float), PETREL_DQ(float, dequantize_row_f32), PETREL_Q(float, quantize_row_f32), false},
    {GgmlType::F16, alignof(uint16_t), PETREL_DQ(uint16_t, dequantize_row_f16), PETREL_Q(uint16_t, quantize_row_f16), false},
    {GgmlType::BF16, alignof(uint16_t), PETREL_DQ(uint16_t, dequantize_row_bf16), PETREL_Q(uint16_t, quantize_row_bf16), false},
    {GgmlType::F64, alignof(double), PETREL_DQ(double, dequantize_row_f64), nullptr, false},
    {GgmlType::I8, alignof(int8_t), PETREL_DQ(int8_t, dequantize_row_i8), nullptr, false},
    {GgmlType::I16, alignof(int16_t), PETREL_DQ(int16_t, dequantize_row_i16), nullptr, false},
    {GgmlType::I32, alignof(int32_t), PETREL_DQ(int32_t, dequantize_row_i32), nullptr, false},
    {GgmlType::Q4_0, alignof(BlockQ4_0), PETREL_DQ(BlockQ4_0, dequantize_row_q4_0), PETREL_Q(BlockQ4_0, quantize_row_q4_0), true},
    {GgmlType::Q4_1, alignof(BlockQ4_1), PETREL_DQ(BlockQ4_1, dequantize_row_q4_1), PETREL_Q(BlockQ4_1, quantize_row_q4_1), true},
    {GgmlType::Q5_0, alignof(BlockQ5_0), PETREL_DQ(BlockQ5_0, dequantize_row_q5_0), PETREL_Q(BlockQ5_0, quantize_row_q5_0), true},
    {GgmlType::Q5_1, alignof(BlockQ5_1), PETREL_DQ(BlockQ5_1, dequantize_row_q5_1), PETREL_Q(BlockQ5_1, quantize_row_q5_1), true},
    {GgmlType::Q8_0, alignof(BlockQ8_0), PETREL_DQ(BlockQ8_0, dequantize_row_q8_0), PETREL_Q(BlockQ8_0, quantize_row_q8_0), true},
    {GgmlType::MXFP4, alignof(BlockMxfp4), PETREL_DQ(BlockMxfp4, dequantize_row_mxfp4), PETREL_Q(BlockMxfp4, quantize_row_mxfp4), true},
    {GgmlType::Q2_K, alignof(BlockQ2_K), PETREL_DQ(BlockQ2_K, dequantize_row_q2_K), PETREL_Q(BlockQ2_K, quantize_row_q2_K), true},
    {GgmlType::Q3_K, alignof(BlockQ3_K), PETREL_DQ(BlockQ3_K, dequantize_row_q3_K), PETREL_Q(BlockQ3_K, quantize_row_q3_K), true},
    {GgmlType::Q4_K, alignof(BlockQ4_K), PETREL_DQ(BlockQ4_K, dequantize_row_q4_K), PETREL_Q(BlockQ4_K, quantize_row_q4_K), true},
    {GgmlType::Q5_K, alignof(BlockQ5_K), PETREL_DQ(BlockQ5_K, dequantize_row_q5_K), PETREL_Q(BlockQ5_K, quantize_row_q5_K), true},
    {GgmlType::Q6_K, alignof(BlockQ6_K), PETREL_DQ(BlockQ6_K, dequantize_row_q6_K), PETREL_Q(BlockQ6_K, quantize_row_q6_K), true},
    {GgmlType::Q8_K, alignof(BlockQ8_K), PETREL_DQ(BlockQ8_K, dequantize_row_q8_K), PETREL_Q(BlockQ8_K, quantize_row_q8_K), true},
    {GgmlType::IQ4_NL, alignof(BlockIq4Nl), PETREL_DQ(BlockIq4Nl, dequantize_row_iq4_nl), PETREL_Q(BlockIq4Nl, quantize_row_iq4_nl), true},
    {GgmlType::IQ4_XS, alignof(BlockIq4Xs), PETREL_DQ(BlockIq4Xs, dequantize_row_iq4_xs), PETREL_Q(BlockIq4Xs, quantize_row_iq4_xs), true},
};

#undef PETREL_DQ
#undef PETREL_Q

const Converter* find_converter(GgmlType type) {
  for (const auto& c : kConverters) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool is_aligned(const void* p, size_t align) { return reinterpret_cast<uintptr_t>(p) % align == 0; }

// Blocks per bounce-buffer slice: up to ~64 KiB of packed data.
constexpr size_t kBounceBytes = 64 * 1024;

Status check_count(const GgmlTypeInfo& info, int64_t n, const char* what) {
  if (n < 0) return Status(StatusCode::invalid_argument, std::string(what) + ": negative element count");
  if (n % info.block_size != 0) {
    return Status(StatusCode::invalid_argument, std::string(what) + ": " + std::to_string(n) + " elements is not a whole number of " +
                                                    info.name + " blocks (" + std::to_string(info.block_size) + ")");
  }
  return Status::ok_status();
}

}  // namespace

bool can_dequantize(GgmlType type) { return find_converter(type) != nullptr; }

bool can_quantize(GgmlType type) {
  const Converter* c = find_converter(type);
  return c != nullptr && c->quantize != nullptr;
}

Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  const Converter* c = find_converter(type);
  if (info == nullptr || c == nullptr) {
    return Status(StatusCode::unsupported, std::string("dequantize: petrel cannot convert type ") +
                                               (info ? info->name : std::to_string(static_cast<uint32_t>(type))) + " to f32");
  }
  PETREL_RETURN_IF_ERROR(check_count(*info, n, "dequantize"));
  if (n == 0) return Status::ok_status();
  if (src == nullptr || dst == nullptr) return Status(StatusCode::invalid_argument, "dequantize: null buffer");

  if (is_aligned(src, c->align)) {
    c->dequantize(src, dst, n);
    return Status::ok_status();
  }
  const int64_t blocks = n / info->block_size;
  const int64_t slice_blocks = static_cast<int64_t>(kBounceBytes / info->type_size) + 1;
  std::unique_ptr<uint64_t[]> bounce(new uint64_t[(static_cast<size_t>(slice_blocks) * info->type_size + 7) / 8]);
  const auto* in = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < blocks; b += slice_blocks) {
    const int64_t nb = blocks - b < slice_blocks ? blocks - b : slice_blocks;
    std::memcpy(bounce.get(), in + b * info->type_size, static_cast<size_t>(nb) * info->type_size);
    c->dequantize(bounce.get(), dst + b * info->block_size, nb * info->block_size);
  }
  return Status::ok_status();
}

Status quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  const Converter* c = find_converter(type);
  if (info == nullptr || c == nullptr || c->quantize == nullptr) {
    return Status(StatusCode::unsupported, std::string("quantize: petrel has no quantizer for type ") +
                                               (info ? info->name : std::to_string(static_cast<uint32_t>(type))));
  }
  PETREL_RETURN_IF_ERROR(check_count(*info, n, "quantize"));
  if (n == 0) return Status::ok_status();
  if (src == nullptr || dst == nullptr) return Status(StatusCode::invalid_argument, "quantize: null buffer");
  if (c->needs_finite) {
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(src[i])) {
        return Status(StatusCode::invalid_argument, std::string("quantize: non-finite value at index ") + std::to_string(i) +
                                                        " cannot be stored as " + info->name);
      }
    }
  }
  if (is_aligned(dst, c->align)) {
    c->quantize(src, dst, n);
    return Status::ok_status();
  }
  const int64_t blocks = n / info->block_size;
  const int64_t slice_blocks = static_cast<int64_t>(kBounceBytes / info->type_size) + 1;
  std::unique_ptr<uint64_t[]> bounce(new uint64_t[(static_cast<size_t>(slice_blocks) * info->type_size + 7) / 8]);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < blocks; b += slice_blocks) {
    const int64_t nb = blocks - b < slice_blocks ? blocks - b : slice_blocks;
    c->quantize(src + b * info->block_size, bounce.get(), nb * info->block_size);
    std::memcpy(out + b * info->type_size, bounce.get(), static_cast<size_t>(nb) * info->type_size);
  }
  return Status::ok_status();
}

}  // namespace petrel
