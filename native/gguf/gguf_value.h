// GgufValue: one GGUF metadata value held in memory (a tagged variant).
// Scalars keep their exact bits; arrays of fixed-size scalars keep the file's little-endian bytes
// in one buffer (a 150k-entry token-type array stays one allocation); string arrays keep a
// vector of strings; arrays of arrays keep a vector of GgufValue (each inner array has its own
// item type, as in the file format). Used by the reader (parsed values), the writer (values to
// write) and the addon (conversion to and from JavaScript).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "gguf/gguf_format.h"

namespace petrel {

class GgufValue {
 public:
  GgufValue() = default;  // u8 0

  // ---- scalars ----
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  // A fixed-size scalar from its little-endian bytes (gguf_type_size(type) of them).
  static GgufValue scalar_from_bytes(GgufType type, const uint8_t* bytes);

  // ---- arrays ----
  // `count` fixed-size scalars of item_type, as little-endian bytes (count * type size of them).
  static GgufValue scalar_array(GgufType item_type, const uint8_t* bytes, uint64_t count);
  static GgufValue string_array(std::vector<std::string> items);
  // Every item must itself be an array (type() == ARRAY).
  static GgufValue nested_array(std::vector<GgufValue> items);
  // Typed helpers: the item type follows T (uint8_t -> UINT8, float -> FLOAT32, ...).
  template <class T>
  static GgufValue array(const std::vector<T>& items);
  static GgufValue bool_array(const std::vector<bool>& items);

  GgufType type() const { return type_; }
  bool is_array() const { return type_ == GgufType::ARRAY; }
  bool is_string() const { return type_ == GgufType::STRING; }

  // Scalar reads. to_uint: any integer type holding a value >= 0; to_int: any integer type holding
  // a value that fits int64; to_double: integers and floats; to_bool: BOOL only.
  std::optional<uint64_t> to_uint() const;
  std::optional<int64_t> to_int() const;
  std::optional<double> to_double() const;
  std::optional<bool> to_bool() const;
  // nullptr unless type() == STRING.
  const std::string* as_string() const { return type_ == GgufType::STRING ? &str_ : nullptr; }
  // The scalar's bits, zero-extended (f32 gives its IEEE bits); meaningless for STRING/ARRAY.
  uint64_t bits() const { return bits_; }

  // Array reads (type() == ARRAY).
  GgufType item_type() const { return item_type_; }
  uint64_t size() const { return count_; }
  // Item i as a scalar value (fixed-size item types and STRING).
  GgufValue item(uint64_t i) const;
  // Fixed-size item types: the items' little-endian bytes.
  const std::vector<uint8_t>& raw_items() const { return raw_; }
  const std::vector<std::string>& string_items() const { return strings_; }
  const std::vector<GgufValue>& array_items() const { return arrays_; }

  // Bitwise equality (f32/f64 compare by bits, so NaN == NaN).
  bool operator==(const GgufValue& other) const;

 private:
  GgufType type_ = GgufType::UINT8;
  GgufType item_type_ = GgufType::UINT8;
  uint64_t bits_ = 0;
  uint64_t count_ = 0;
  std::string str_;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
  std::vector<GgufValue> arrays_;
};

// One key/value pair, in file order.
struct GgufKv {
  std::string key;
  GgufValue value;
};

// ---- template definitions ----
namespace gguf_detail {
template <class T> struct TypeOf;
template <> struct TypeOf<uint8_t> { static constexpr GgufType value = GgufType::UINT8; };
template <> struct TypeOf<int8_t> { static constexpr GgufType value = GgufType::INT8; };
template <> struct TypeOf<uint16_t> { static constexpr GgufType value = GgufType::UINT16; };
template <> struct TypeOf<int16_t> { static constexpr GgufType value = GgufType::INT16; };
template <> struct TypeOf<uint32_t> { static constexpr GgufType value = GgufType::UINT32; };
template <> struct TypeOf<int32_t> { static constexpr GgufType value = GgufType::INT32; };
template <> struct TypeOf<uint64_t> { static constexpr GgufType value = GgufType::UINT64; };
template <> struct TypeOf<int64_t> { static constexpr GgufType value = GgufType::INT64; };
template <> struct TypeOf<float> { static constexpr GgufType value = GgufType::FLOAT32; };
template <> struct TypeOf<double> { static constexpr GgufType value = GgufType::FLOAT64; };
}  // namespace gguf_detail

template <class T>
GgufValue GgufValue::array(const std::vector<T>& items) {
  if constexpr (std::is_same_v<T, std::string>) {
    return string_array(items);
  } else if constexpr (std::is_same_v<T, GgufValue>) {
    return nested_array(items);
  } else {
    // petrel only builds for little-endian hosts, so the in-memory bytes are the file's bytes.
    return scalar_array(gguf_detail::TypeOf<T>::value, reinterpret_cast<const uint8_t*>(items.data()),
                        items.size());
  }
}

}  // namespace petrel
