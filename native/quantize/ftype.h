// The quantization types `petrel quantize` offers, as llama.cpp's llama_ftype (the number stored
// in general.file_type) and the default tensor type each one starts from before the per-tensor
// rules of type_policy.h move some tensors up or down.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "quant/ggml_type.h"

namespace petrel {

// llama.cpp's enum llama_ftype values (include/llama.h).
enum class LlamaFtype : uint32_t {
  ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7, MOSTLY_Q5_0 = 8,
  MOSTLY_Q5_1 = 9, MOSTLY_Q2_K = 10, MOSTLY_Q3_K_S = 11, MOSTLY_Q3_K_M = 12, MOSTLY_Q3_K_L = 13,
  MOSTLY_Q4_K_S = 14, MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_S = 16, MOSTLY_Q5_K_M = 17, MOSTLY_Q6_K = 18,
  MOSTLY_IQ4_NL = 25, MOSTLY_IQ4_XS = 30, MOSTLY_BF16 = 32,
};

struct QuantType {
  const char* name;         // what the user types, lower case: "q4_k_m"
  LlamaFtype ftype;
  GgmlType default_type;    // llama_ftype_get_default_type
  const char* description;  // one line for --help
};

// nullptr when `name` (case-insensitive) is not one of them.
const QuantType* find_quant_type(std::string_view name);
const QuantType* quant_type_table(size_t* count);

}  // namespace petrel
