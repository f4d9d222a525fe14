// GgufValue construction and typed reads (see gguf_value.h).
#include "gguf/gguf_value.h"

#include <bit>
#include <cstring>

namespace petrel {

static_assert(std::endian::native == std::endian::little, "petrel reads GGUF bytes in place: little-endian hosts only");

GgufValue GgufValue::scalar_from_bytes(GgufType type, const uint8_t* bytes) {
  uint64_t bits = 0;
  std::memcpy(&bits, bytes, gguf_type_size(type));
  GgufValue v;
  v.type_ = type;
  v.bits_ = bits;
  return v;
}

GgufValue GgufValue::u8(uint8_t x) { return scalar_from_bytes(GgufType::UINT8, &x); }
GgufValue GgufValue::i8(int8_t x) { return scalar_from_bytes(GgufType::INT8, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::u16(uint16_t x) { return scalar_from_bytes(GgufType::UINT16, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::i16(int16_t x) { return scalar_from_bytes(GgufType::INT16, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::u32(uint32_t x) { return scalar_from_bytes(GgufType::UINT32, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::i32(int32_t x) { return scalar_from_bytes(GgufType::INT32, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::u64(uint64_t x) { return scalar_from_bytes(GgufType::UINT64, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::i64(int64_t x) { return scalar_from_bytes(GgufType::INT64, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::f32(float x) { return scalar_from_bytes(GgufType::FLOAT32, reinterpret_cast<const uint8_t*>(&x)); }
GgufValue GgufValue::f64(double x) { return scalar_from_bytes(GgufType::FLOAT64, reinterpret_cast<const uint8_t*>(&x)); }

GgufValue GgufValue::boolean(bool x) {
  const uint8_t b = x ? 1 : 0;
  return scalar_from_bytes(GgufType::BOOL, &b);
}

GgufValue GgufValue::str(std::string x) {
  GgufValue v;
  v.type_ = GgufType::STRING;
  v.str_ = std::move(x);
  return v;
}

GgufValue GgufValue::scalar_array(GgufType item_type, const uint8_t* bytes, uint64_t count) {
  GgufValue v;
  v.type_ = GgufType::ARRAY;
  v.item_type_ = item_type;
  v.count_ = count;
  const size_t n = static_cast<size_t>(count) * gguf_type_size(item_type);
  if (n > 0) v.raw_.assign(bytes, bytes + n);
  return v;
}

GgufValue GgufValue::string_array(std::vector<std::string> items) {
  GgufValue v;
  v.type_ = GgufType::ARRAY;
  v.item_type_ = GgufType::STRING;
  v.count_ = items.size();
  v.strings_ = std::move(items);
  return v;
}

GgufValue GgufValue::nested_array(std::vector<GgufValue> items) {
  GgufValue v;
  v.type_ = GgufType::ARRAY;
  v.item_type_ = GgufType::ARRAY;
  v.count_ = items.size();
  v.arrays_ = std::move(items);
  return v;
}

GgufValue GgufValue::bool_array(const std::vector<bool>& items) {
  std::vector<uint8_t> bytes(items.size());
  for (size_t i = 0; i < items.size(); ++i) bytes[i] = items[i] ? 1 : 0;
  return scalar_array(GgufType::BOOL, bytes.data(), bytes.size());
}

std::optional<uint64_t> GgufValue::to_uint() const {
  switch (type_) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64:
      return bits_;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64: {
      const int64_t v = *to_int();
      if (v < 0) return std::nullopt;
      return static_cast<uint64_t>(v);
    }
    default:
      return std::nullopt;
  }
}

std::optional<int64_t> GgufValue::to_int() const {
  switch (type_) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: return static_cast<int64_t>(bits_);
    case GgufType::UINT64:
      if (bits_ > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(bits_);
    case GgufType::INT8: return static_cast<int8_t>(static_cast<uint8_t>(bits_));
    case GgufType::INT16: return static_cast<int16_t>(static_cast<uint16_t>(bits_));
    case GgufType::INT32: return static_cast<int32_t>(static_cast<uint32_t>(bits_));
    case GgufType::INT64: return static_cast<int64_t>(bits_);
    default: return std::nullopt;
  }
}

std::optional<double> GgufValue::to_double() const {
  switch (type_) {
    case GgufType::FLOAT32: {
      float f;
      const uint32_t b = static_cast<uint32_t>(bits_);
      std::memcpy(&f, &b, 4);
      return static_cast<double>(f);
    }
    case GgufType::FLOAT64: {
      double d;
      std::memcpy(&d, &bits_, 8);
      return d;
    }
    case GgufType::UINT64: return static_cast<double>(bits_);
    default: {
      const auto i = to_int();
      if (!i) return std::nullopt;
      return static_cast<double>(*i);
    }
  }
}

std::optional<bool> GgufValue::to_bool() const {
  if (type_ != GgufType::BOOL) return std::nullopt;
  return bits_ != 0;
}

GgufValue GgufValue::item(uint64_t i) const {
  if (type_ != GgufType::ARRAY || i >= count_) return GgufValue();
  if (item_type_ == GgufType::STRING) return str(strings_[i]);
  if (item_type_ == GgufType::ARRAY) return arrays_[i];
  const size_t sz = gguf_type_size(item_type_);
  return scalar_from_bytes(item_type_, raw_.data() + i * sz);
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case GgufType::STRING: return str_ == o.str_;
    case GgufType::ARRAY:
      return item_type_ == o.item_type_ && count_ == o.count_ && raw_ == o.raw_ && strings_ == o.strings_ &&
             arrays_ == o.arrays_;
    default: return bits_ == o.bits_;
  }
}

}  // namespace petrel
