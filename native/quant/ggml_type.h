// The ggml tensor types, numbered exactly as in ggml.h (the numbers are stored in GGUF files).
// One table gives each type's name, block size (elements) and block size in bytes; the GGUF
// reader uses it to check tensor sizes, the writer to lay tensors out.
#pragma once

#include <cstddef>
#include <cstdint>

namespace petrel {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3,
  Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;     // ggml's spelling: "f32", "q4_K", "iq4_xs", ...
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
};

// nullptr when `id` is not a type petrel knows (removed or future ggml types).
const GgmlTypeInfo* ggml_type_info(uint32_t id);

// All known types, in id order.
const GgmlTypeInfo* ggml_type_table(size_t* count);

// Bytes for `n_elements` of `type`; false when n_elements is not a whole number of blocks
// or the size overflows 64 bits.
bool ggml_row_bytes(const GgmlTypeInfo& type, uint64_t n_elements, uint64_t* bytes);

}  // namespace petrel
