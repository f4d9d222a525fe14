// libFuzzer target for the GGUF reader: parses the input with GgufFile::open_memory (the same
// parser as files) and, when it is accepted, touches every metadata value and every byte of every
// tensor (and dequantizes small tensors), so ASan/UBSan catch any out-of-bounds access. A refusal
// must be a one-line message. With PETREL_FUZZ_WRITE_SEEDS=<dir> the binary instead writes a seed
// corpus of small valid GGUFs (made by GgufWriter) into <dir> and exits; native/fuzz/run.sh uses it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "gguf/writer.h"
#include "quant/convert.h"
#include "synth/random_source.h"

using namespace petrel;

namespace {

volatile uint64_t g_sink;

void touch_value(const GgufValue& v, uint64_t* acc) {
  *acc += static_cast<uint64_t>(v.type());
  if (const std::string* s = v.as_string()) {
    for (char c : *s) *acc += static_cast<uint8_t>(c);
  } else if (v.is_array()) {
    for (uint8_t b : v.raw_items()) *acc += b;
    for (const std::string& s : v.string_items()) {
      for (char c : s) *acc += static_cast<uint8_t>(c);
    }
    for (const GgufValue& a : v.array_items()) touch_value(a, acc);
    if (v.size() > 0 && v.item_type() != GgufType::ARRAY) touch_value(v.item(v.size() - 1), acc);
  } else {
    *acc += v.to_uint().value_or(1) + static_cast<uint64_t>(v.to_int().value_or(2));
    *acc += static_cast<uint64_t>(v.to_double().value_or(0.0) != 0.0);
  }
}

// Small valid files covering every value type, several tensor types and a non-default alignment.
int write_seeds(const char* dir) {
  std::vector<std::pair<std::string, GgufWriter>> seeds;
  {
    GgufWriter w;
    w.add_kv("general.architecture", GgufValue::str("qwen35"));
    w.add_kv("u8", GgufValue::u8(7));
    w.add_kv("i8", GgufValue::i8(-7));
    w.add_kv("u16", GgufValue::u16(700));
    w.add_kv("i16", GgufValue::i16(-700));
    w.add_kv("u32", GgufValue::u32(70000));
    w.add_kv("i32", GgufValue::i32(-70000));
    w.add_kv("f32", GgufValue::f32(0.5f));
    w.add_kv("bool", GgufValue::boolean(true));
    w.add_kv("u64", GgufValue::u64(1ull << 40));
    w.add_kv("i64", GgufValue::i64(-(1ll << 40)));
    w.add_kv("f64", GgufValue::f64(0.25));
    w.add_kv("tokens", GgufValue::array(std::vector<std::string>{"<s>", "a", "bc", "\xe4\xb8\xad"}));
    w.add_kv("types", GgufValue::array(std::vector<int32_t>{1, 1, 1, 3}));
    w.add_kv("flags", GgufValue::bool_array({true, false}));
    w.add_kv("nested", GgufValue::nested_array({GgufValue::array(std::vector<float>{1.0f, 2.0f}),
                                                GgufValue::nested_array({GgufValue::array(std::vector<uint8_t>{1})})}));
    seeds.emplace_back("metadata.gguf", std::move(w));
  }
  {
    GgufWriter w;
    w.add_kv("general.architecture", GgufValue::str("test"));
    const std::pair<GgmlType, int64_t> kinds[] = {
        {GgmlType::F32, 8}, {GgmlType::F16, 16}, {GgmlType::BF16, 8}, {GgmlType::Q8_0, 32}, {GgmlType::Q4_0, 32}, {GgmlType::Q4_K, 256}};
    int i = 0;
    for (const auto& [type, n] : kinds) {
      GgufWriteTensor t;
      t.name = "blk.0.t" + std::to_string(i);
      t.type_id = static_cast<uint32_t>(type);
      t.shape = {n, 1 + i % 2};
      t.generate = random_values({static_cast<uint64_t>(i), 0.0, 0.1, RandomTransform::none});
      w.add_tensor(t);
      ++i;
    }
    seeds.emplace_back("tensors.gguf", std::move(w));
  }
  {
    GgufWriteOptions o;
    o.alignment = 64;
    GgufWriter w(o);
    w.add_kv("split.no", GgufValue::u16(0));
    w.add_kv("split.count", GgufValue::u16(1));
    w.add_kv("split.tensors.count", GgufValue::i32(2));
    for (int i = 0; i < 2; ++i) {
      GgufWriteTensor t;
      t.name = i ? "output.weight" : "token_embd.weight";
      t.type_id = 0;
      t.shape = {4, 3, 2, 1};
      t.generate = random_values({7, 0.0, 1.0, i ? RandomTransform::neg_exp : RandomTransform::none});
      w.add_tensor(t);
    }
    seeds.emplace_back("aligned64.gguf", std::move(w));
  }
  for (auto& [name, w] : seeds) {
    std::vector<uint8_t> bytes;
    const Status st = w.write_to_memory(&bytes);
    if (!st.ok()) {
      std::fprintf(stderr, "seed %s: %s\n", name.c_str(), st.message().c_str());
      return 1;
    }
    const std::string path = std::string(dir) + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("PETREL_FUZZ_WRITE_SEEDS")) std::exit(write_seeds(dir));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<GgufFile> f;
  const Status st = GgufFile::open_memory(data, size, "fuzz.gguf", &f);
  if (!st.ok()) {
    if (st.message().empty() || st.message().find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  uint64_t acc = 0;
  for (const GgufKv& kv : f->kvs()) {
    if (f->find(kv.key) != &kv.value) __builtin_trap();
    touch_value(kv.value, &acc);
  }
  for (const GgufTensorInfo& t : f->tensors()) {
    if (f->find_tensor(t.name) != &t) __builtin_trap();
    if (t.file_offset + t.size > size || t.data != data + t.file_offset) __builtin_trap();
    for (uint64_t i = 0; i < t.size; ++i) acc += t.data[i];
    if (can_dequantize(t.type->type) && t.n_elements <= (1u << 16)) {
      std::vector<float> out(static_cast<size_t>(t.n_elements));
      const Status dq = dequantize_row(t.type->type, t.data, out.data(), static_cast<int64_t>(t.n_elements));
      if (dq.ok() && !out.empty()) acc += static_cast<uint64_t>(out.back() == out.back());
    }
  }
  g_sink = acc;
  return 0;
}
