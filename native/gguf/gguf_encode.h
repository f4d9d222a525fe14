// GGUF header encoding (little-endian, as the format stores it), shared by the writer
// (gguf/writer.cpp) and the quantizer's output (quantize/gguf_emit.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"

namespace petrel {

void gguf_put_u32(std::vector<uint8_t>* o, uint32_t v);
void gguf_put_u64(std::vector<uint8_t>* o, uint64_t v);
// u64 length, then the bytes.
void gguf_put_string(std::vector<uint8_t>* o, const std::string& s);
// A metadata pair: key, u32 value type, value.
void gguf_put_kv(std::vector<uint8_t>* o, const std::string& key, const GgufValue& value);
// A tensor-info record: name, u32 n_dims, u64 ne[], u32 type, u64 offset in the data section.
void gguf_put_tensor_info(std::vector<uint8_t>* o, const std::string& name, const std::vector<int64_t>& shape,
                          uint32_t type_id, uint64_t offset);
// Bytes of padding that bring n to a multiple of align.
inline uint64_t gguf_pad_to(uint64_t n, uint64_t align) { return (align - n % align) % align; }

}  // namespace petrel
