// GGUF on-disk constants: magic, versions, metadata value type ids, alignment and the limits
// petrel enforces when it reads a file (ggml's own limits where ggml has one).
// Layout (all little-endian):
//   header   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
//   n_kv     { string key, u32 value_type, value }
//   tensors  { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding  to `alignment`, then the data section (tensor offsets are relative to its start)
// A string is u64 length + bytes (no NUL); an array is u32 item_type, u64 count, items.
#pragma once

#include <cstddef>
#include <cstdint>

namespace petrel {

inline constexpr char kGgufMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kGgufVersion2 = 2;
inline constexpr uint32_t kGgufVersion3 = 3;
// What the writer produces (v3 only added big-endian files, which petrel neither reads nor writes).
inline constexpr uint32_t kGgufWriteVersion = kGgufVersion3;

inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr const char* kGgufKeyAlignment = "general.alignment";

// Keys written by llama.cpp's gguf-split (u16, u16, i32).
inline constexpr const char* kGgufKeySplitNo = "split.no";
inline constexpr const char* kGgufKeySplitCount = "split.count";
inline constexpr const char* kGgufKeySplitTensorsCount = "split.tensors.count";

// ggml tensors have at most 4 dims (GGML_MAX_DIMS).
inline constexpr uint32_t kGgufMaxDims = 4;
// Tensor names must fit ggml's char name[GGML_MAX_NAME = 64] with its NUL.
inline constexpr size_t kGgufMaxTensorName = 63;
// Arrays of arrays deeper than this are refused (llama.cpp refuses all nesting; real files use 1).
inline constexpr int kGgufMaxArrayDepth = 8;

enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
inline constexpr uint32_t kGgufTypeCount = 13;

inline bool gguf_type_valid(uint32_t id) { return id < kGgufTypeCount; }

// Bytes of one scalar of `type` in a file; 0 for STRING and ARRAY (variable length).
inline size_t gguf_type_size(GgufType type) {
  switch (type) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    case GgufType::STRING: case GgufType::ARRAY: return 0;
  }
  return 0;
}

// The short names the JavaScript side uses (GgufValueType in src/engine/native.ts).
inline const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::UINT8: return "u8";
    case GgufType::INT8: return "i8";
    case GgufType::UINT16: return "u16";
    case GgufType::INT16: return "i16";
    case GgufType::UINT32: return "u32";
    case GgufType::INT32: return "i32";
    case GgufType::FLOAT32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "str";
    case GgufType::ARRAY: return "arr";
    case GgufType::UINT64: return "u64";
    case GgufType::INT64: return "i64";
    case GgufType::FLOAT64: return "f64";
  }
  return "?";
}

}  // namespace petrel
