// gguf_encode.h: the byte encoding of GGUF header pieces.
#include "gguf/gguf_encode.h"

#include "gguf/gguf_format.h"

namespace petrel {
namespace {

void put_array_body(std::vector<uint8_t>* o, const GgufValue& v) {
  gguf_put_u32(o, static_cast<uint32_t>(v.item_type()));
  gguf_put_u64(o, v.size());
  if (v.item_type() == GgufType::STRING) {
    for (const std::string& s : v.string_items()) gguf_put_string(o, s);
  } else if (v.item_type() == GgufType::ARRAY) {
    for (const GgufValue& item : v.array_items()) put_array_body(o, item);
  } else {
    o->insert(o->end(), v.raw_items().begin(), v.raw_items().end());
  }
}

void put_value(std::vector<uint8_t>* o, const GgufValue& v) {
  if (v.is_string()) {
    gguf_put_string(o, *v.as_string());
  } else if (v.is_array()) {
    put_array_body(o, v);
  } else {
    const uint64_t bits = v.bits();
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&bits);
    o->insert(o->end(), p, p + gguf_type_size(v.type()));
  }
}

}  // namespace

void gguf_put_u32(std::vector<uint8_t>* o, uint32_t v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  o->insert(o->end(), p, p + 4);
}

void gguf_put_u64(std::vector<uint8_t>* o, uint64_t v) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
  o->insert(o->end(), p, p + 8);
}

void gguf_put_string(std::vector<uint8_t>* o, const std::string& s) {
  gguf_put_u64(o, s.size());
  o->insert(o->end(), s.begin(), s.end());
}

void gguf_put_kv(std::vector<uint8_t>* o, const std::string& key, const GgufValue& value) {
  gguf_put_string(o, key);
  gguf_put_u32(o, static_cast<uint32_t>(value.type()));
  put_value(o, value);
}

void gguf_put_tensor_info(std::vector<uint8_t>* o, const std::string& name, const std::vector<int64_t>& shape,
                          uint32_t type_id, uint64_t offset) {
  gguf_put_string(o, name);
  gguf_put_u32(o, static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) gguf_put_u64(o, static_cast<uint64_t>(d));
  gguf_put_u32(o, type_id);
  gguf_put_u64(o, offset);
}

}  // namespace petrel
