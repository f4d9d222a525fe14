// GGUF reader/writer tests: write -> read round trips (every value type, nested arrays, every
// tensor source, alignment), split models, the writer's atomic-rename guarantees, the random
// generator's determinism, and a hostile corpus built byte by byte (each case must give a
// non-ok Status with a one-line message, never a crash). Run: petrel_tests gguf
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>

#include "gguf/model_files.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "quant/convert.h"
#include "synth/random_fill.h"
#include "synth/random_source.h"
#include "tests/test.h"

namespace petrel {
namespace {

// ---- helpers -------------------------------------------------------------------------------------

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/petrel-gguf-XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  return d ? std::string(d) : std::string("/tmp");
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool one_line(const Status& st) { return !st.message().empty() && st.message().find('\n') == std::string::npos; }

Status parse(const std::vector<uint8_t>& bytes, std::unique_ptr<GgufFile>* out = nullptr) {
  std::unique_ptr<GgufFile> f;
  Status st = GgufFile::open_memory(bytes.data(), bytes.size(), "t.gguf", &f);
  if (out) *out = std::move(f);
  return st;
}

// Checks that `bytes` is refused with `code`, a one-line message containing `needle`.
void expect_refused(const char* name, const std::vector<uint8_t>& bytes, StatusCode code, const char* needle) {
  const Status st = parse(bytes);
  const bool good = !st.ok() && st.code() == code && one_line(st) && st.message().find(needle) != std::string::npos;
  if (!good) {
    std::fprintf(stderr, "  hostile case %s: got [%s] %s\n", name, status_code_name(st.code()), st.message().c_str());
  }
  PETREL_CHECK(good);
}

// Byte-level GGUF builder for hand-made (and broken) files.
struct Bytes {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void raw(const void* p, size_t n) { b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); }
  void str(std::string_view s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void pad(size_t align) {
    while (b.size() % align) b.push_back(0);
  }
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct FileSpec {
  uint32_t version = 3;
  std::vector<std::function<void(Bytes&)>> kvs;  // each writes key, type, value
  std::vector<TensorSpec> tensors = {{"a", {8}, 0, 0}, {"b", {4, 2}, 0, 32}};
  uint64_t data_bytes = 64;
  uint32_t alignment = 32;  // used for the padding only; add a kv to change the file's alignment
  std::optional<uint64_t> n_kv, n_tensors;
};

std::function<void(Bytes&)> kv_str(std::string key, std::string v) {
  return [=](Bytes& o) {
    o.str(key);
    o.u32(8);
    o.str(v);
  };
}
std::function<void(Bytes&)> kv_u32(std::string key, uint32_t v, uint32_t type = 4) {
  return [=](Bytes& o) {
    o.str(key);
    o.u32(type);
    o.u32(v);
  };
}

std::vector<uint8_t> build(const FileSpec& s) {
  Bytes o;
  o.raw("GGUF", 4);
  o.u32(s.version);
  o.u64(s.n_tensors.value_or(s.tensors.size()));
  o.u64(s.n_kv.value_or(s.kvs.size()));
  for (const auto& kv : s.kvs) kv(o);
  for (const TensorSpec& t : s.tensors) {
    o.str(t.name);
    o.u32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) o.u64(d);
    o.u32(t.type);
    o.u64(t.offset);
  }
  o.pad(s.alignment);
  for (uint64_t i = 0; i < s.data_bytes; ++i) o.u8(static_cast<uint8_t>(i));
  return o.b;
}

// Every metadata value type, with edge values, nested arrays and empty arrays.
void add_all_value_types(GgufWriter& w) {
  w.add_kv("t.u8", GgufValue::u8(255));
  w.add_kv("t.i8", GgufValue::i8(-128));
  w.add_kv("t.u16", GgufValue::u16(65535));
  w.add_kv("t.i16", GgufValue::i16(-32768));
  w.add_kv("t.u32", GgufValue::u32(4294967295u));
  w.add_kv("t.i32", GgufValue::i32(std::numeric_limits<int32_t>::min()));
  w.add_kv("t.f32", GgufValue::f32(-1.5e-7f));
  w.add_kv("t.f32nan", GgufValue::f32(std::numeric_limits<float>::quiet_NaN()));
  w.add_kv("t.bool", GgufValue::boolean(true));
  w.add_kv("t.str", GgufValue::str(std::string("h\xc3\xa9llo\0world", 12)));
  w.add_kv("t.str_empty", GgufValue::str(""));
  w.add_kv("t.u64", GgufValue::u64(UINT64_MAX));
  w.add_kv("t.i64", GgufValue::i64(INT64_MIN));
  w.add_kv("t.f64", GgufValue::f64(-2.2250738585072014e-308));
  w.add_kv("a.u8", GgufValue::array(std::vector<uint8_t>{0, 1, 255}));
  w.add_kv("a.i8", GgufValue::array(std::vector<int8_t>{-1, 0, 127}));
  w.add_kv("a.u16", GgufValue::array(std::vector<uint16_t>{1, 65535}));
  w.add_kv("a.i16", GgufValue::array(std::vector<int16_t>{-2, 2}));
  w.add_kv("a.u32", GgufValue::array(std::vector<uint32_t>{7}));
  w.add_kv("a.i32", GgufValue::array(std::vector<int32_t>{-7, 1 << 30}));
  w.add_kv("a.f32", GgufValue::array(std::vector<float>{0.5f, -0.0f, INFINITY}));
  w.add_kv("a.bool", GgufValue::bool_array({true, false, true}));
  w.add_kv("a.str", GgufValue::array(std::vector<std::string>{"a", "", "\xe4\xb8\xad"}));
  w.add_kv("a.u64", GgufValue::array(std::vector<uint64_t>{UINT64_MAX, 0}));
  w.add_kv("a.i64", GgufValue::array(std::vector<int64_t>{INT64_MIN, 5}));
  w.add_kv("a.f64", GgufValue::array(std::vector<double>{1e300, -1e-300}));
  w.add_kv("a.empty", GgufValue::array(std::vector<int32_t>{}));
  w.add_kv("a.nested", GgufValue::nested_array({GgufValue::array(std::vector<int32_t>{1, 2}),
                                                  GgufValue::array(std::vector<std::string>{"x"}),
                                                  GgufValue::nested_array({GgufValue::array(std::vector<float>{3.0f})}),
                                                  GgufValue::nested_array({})}));
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + 0.1f);
  return v;
}

}  // namespace

// ---- round trips ---------------------------------------------------------------------------------

PETREL_TEST(gguf_roundtrip_metadata_all_types) {
  GgufWriter w;
  add_all_value_types(w);
  std::vector<uint8_t> bytes;
  PETREL_CHECK(w.write_to_memory(&bytes).ok());
  std::unique_ptr<GgufFile> f;
  const Status st = parse(bytes, &f);
  PETREL_CHECK(st.ok());
  if (!st.ok()) return;
  GgufWriter expect;
  add_all_value_types(expect);
  std::vector<uint8_t> again;
  PETREL_CHECK(expect.write_to_memory(&again).ok());
  PETREL_CHECK(bytes == again);  // deterministic output
  PETREL_CHECK_EQ(f->version(), 3u);
  PETREL_CHECK_EQ(f->alignment(), 32u);
  PETREL_CHECK_EQ(f->kvs().size(), size_t{28});
  PETREL_CHECK_EQ(f->tensors().size(), size_t{0});
  PETREL_CHECK(*f->find("t.u64")->to_uint() == UINT64_MAX);
  PETREL_CHECK(*f->find("t.i64")->to_int() == INT64_MIN);
  PETREL_CHECK(*f->find("t.i8")->to_int() == -128);
  PETREL_CHECK(!f->find("t.i8")->to_uint());
  PETREL_CHECK(*f->find("t.bool")->to_bool());
  PETREL_CHECK(std::isnan(*f->find("t.f32nan")->to_double()));
  PETREL_CHECK(*f->find("t.str")->as_string() == std::string("h\xc3\xa9llo\0world", 12));
  const GgufValue* nested = f->find("a.nested");
  PETREL_CHECK(nested && nested->item_type() == GgufType::ARRAY && nested->size() == 4);
  PETREL_CHECK(nested->array_items()[2].array_items()[0].item(0) == GgufValue::f32(3.0f));
  PETREL_CHECK(*f->find("a.i32")->item(1).to_int() == (1 << 30));
  PETREL_CHECK(*f->find("a.str")->item(2).as_string() == "\xe4\xb8\xad");
  // Every value equals what was written, in order.
  std::unique_ptr<GgufFile> g;
  PETREL_CHECK(parse(again, &g).ok());
  for (size_t i = 0; i < f->kvs().size(); ++i) {
    PETREL_CHECK(f->kvs()[i].key == g->kvs()[i].key);
    PETREL_CHECK(f->kvs()[i].value == g->kvs()[i].value);
  }
  PETREL_CHECK(f->find("a.f32")->item(2) == GgufValue::f32(INFINITY));
  PETREL_CHECK(f->find("a.bool")->item(0) == GgufValue::boolean(true));
}

PETREL_TEST(gguf_roundtrip_tensors_every_source) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/t.gguf";
  std::vector<float> f32a = ramp(64 * 3, 1.0f);
  std::vector<float> q8src = ramp(32 * 4, 2.0f);
  std::vector<uint8_t> raw(144 * 2);  // two q4_K blocks
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7);
  raw[0] = 0;  // fp16 d = 0 keeps the block finite
  raw[1] = 0;

  GgufWriter w;
  w.add_kv("general.architecture", GgufValue::str("test"));
  auto add = [&](const char* name, GgmlType type, std::vector<int64_t> shape, TensorSourceKind kind) {
    GgufWriteTensor t;
    t.name = name;
    t.type_id = static_cast<uint32_t>(type);
    t.shape = std::move(shape);
    t.kind = kind;
    return t;
  };
  GgufWriteTensor t1 = add("f32.copy", GgmlType::F32, {64, 3}, TensorSourceKind::f32);
  t1.f32 = f32a.data();
  t1.f32_count = f32a.size();
  GgufWriteTensor t2 = add("f16.conv", GgmlType::F16, {64, 1, 3}, TensorSourceKind::f32);
  t2.f32 = f32a.data();
  t2.f32_count = f32a.size();
  GgufWriteTensor t3 = add("q8.conv", GgmlType::Q8_0, {32, 2, 1, 2}, TensorSourceKind::f32);
  t3.f32 = q8src.data();
  t3.f32_count = q8src.size();
  GgufWriteTensor t4 = add("q4k.raw", GgmlType::Q4_K, {512}, TensorSourceKind::raw);
  t4.raw = raw.data();
  t4.raw_size = raw.size();
  const RandomSpec spec5{7, 0.5, 2.0, RandomTransform::none};
  const RandomSpec spec6{9, 0.0, 0.02, RandomTransform::none};
  GgufWriteTensor t5 = add("rand.f32", GgmlType::F32, {100}, TensorSourceKind::generated);
  t5.generate = random_values(spec5);
  GgufWriteTensor t6 = add("rand.q8", GgmlType::Q8_0, {96, 5}, TensorSourceKind::generated);
  t6.generate = random_values(spec6);
  GgufWriteTensor t7 = add("rand.negexp", GgmlType::F32, {16}, TensorSourceKind::generated);
  t7.generate = random_values({11, 0.0, 1.0, RandomTransform::neg_exp});
  for (auto* t : {&t1, &t2, &t3, &t4, &t5, &t6, &t7}) w.add_tensor(*t);

  std::vector<std::pair<uint64_t, uint64_t>> progress;
  GgufWriteOptions opts;
  opts.progress = [&](uint64_t a, uint64_t b) { progress.emplace_back(a, b); };
  GgufWriter wp(opts);
  wp.add_kv("general.architecture", GgufValue::str("test"));
  for (auto* t : {&t1, &t2, &t3, &t4, &t5, &t6, &t7}) wp.add_tensor(*t);
  const Status ws = wp.write(path);
  PETREL_CHECK(ws.ok());
  PETREL_CHECK(!progress.empty() && progress.back().first == progress.back().second &&
               progress.back().second == wp.total_size());
  for (size_t i = 1; i < progress.size(); ++i) PETREL_CHECK(progress[i].first >= progress[i - 1].first);
  PETREL_CHECK(!exists(path + ".tmp-" + std::to_string(::getpid())));

  std::vector<uint8_t> mem;
  PETREL_CHECK(w.write_to_memory(&mem).ok());
  PETREL_CHECK(mem == read_all(path));
  PETREL_CHECK_EQ(static_cast<uint64_t>(mem.size()), wp.total_size());

  std::unique_ptr<GgufFile> f;
  const Status st = GgufFile::open(path, &f);
  PETREL_CHECK(st.ok());
  if (!st.ok()) return;
  PETREL_CHECK_EQ(f->tensors().size(), size_t{7});
  for (const GgufTensorInfo& t : f->tensors()) {
    PETREL_CHECK(t.file_offset % 32 == 0);
    PETREL_CHECK(t.data == f->mapping()->data() + t.file_offset);
  }
  const GgufTensorInfo* a = f->find_tensor("f32.copy");
  PETREL_CHECK(a && a->size == f32a.size() * 4 && std::memcmp(a->data, f32a.data(), a->size) == 0);
  PETREL_CHECK(a->n_dims == 2 && a->ne[0] == 64 && a->ne[1] == 3 && a->ne[2] == 1);

  std::vector<uint8_t> expect(f32a.size() * 2);
  PETREL_CHECK(quantize_row(GgmlType::F16, f32a.data(), expect.data(), static_cast<int64_t>(f32a.size())).ok());
  const GgufTensorInfo* b = f->find_tensor("f16.conv");
  PETREL_CHECK(b && b->size == expect.size() && std::memcmp(b->data, expect.data(), expect.size()) == 0);
  PETREL_CHECK(b->n_dims == 3 && b->n_elements == 192);

  expect.assign(4 * 34, 0);
  PETREL_CHECK(quantize_row(GgmlType::Q8_0, q8src.data(), expect.data(), 128).ok());
  const GgufTensorInfo* c = f->find_tensor("q8.conv");
  PETREL_CHECK(c && c->size == expect.size() && std::memcmp(c->data, expect.data(), expect.size()) == 0);
  PETREL_CHECK(c->n_dims == 4 && c->ne[3] == 2);

  const GgufTensorInfo* d = f->find_tensor("q4k.raw");
  PETREL_CHECK(d && d->size == raw.size() && std::memcmp(d->data, raw.data(), raw.size()) == 0);
  PETREL_CHECK(d->type->type == GgmlType::Q4_K);

  std::vector<float> r(100);
  random_fill(spec5, 0, r.data(), r.size());
  const GgufTensorInfo* e = f->find_tensor("rand.f32");
  PETREL_CHECK(e && std::memcmp(e->data, r.data(), 400) == 0);

  std::vector<float> r6(480);
  random_fill(spec6, 0, r6.data(), r6.size());
  expect.assign(15 * 34, 0);
  PETREL_CHECK(quantize_row(GgmlType::Q8_0, r6.data(), expect.data(), 480).ok());
  const GgufTensorInfo* g = f->find_tensor("rand.q8");
  PETREL_CHECK(g && g->size == expect.size() && std::memcmp(g->data, expect.data(), expect.size()) == 0);

  const GgufTensorInfo* h = f->find_tensor("rand.negexp");
  std::vector<float> neg(16);
  std::memcpy(neg.data(), h->data, 64);
  for (float v : neg) PETREL_CHECK(v < 0.0f);

  // GgufModel on a single file: one path, split 0.
  std::unique_ptr<GgufModel> m;
  PETREL_CHECK(GgufModel::open(path, &m).ok());
  PETREL_CHECK(m && m->paths().size() == 1 && m->tensors().size() == 7 && m->tensors()[3].split == 0);
}

PETREL_TEST(gguf_alignment_key_honoured) {
  for (uint32_t align : {1u, 8u, 64u, 4096u}) {
    GgufWriteOptions o;
    o.alignment = align;
    GgufWriter w(o);
    w.add_kv("x", GgufValue::u8(1));
    std::vector<float> v = ramp(40, 1.0f);
    for (int i = 0; i < 3; ++i) {
      GgufWriteTensor t;
      t.name = "t" + std::to_string(i);
      t.type_id = 0;
      t.shape = {10 + i};
      t.kind = TensorSourceKind::f32;
      t.f32 = v.data();
      t.f32_count = 10 + i;
      w.add_tensor(t);
    }
    std::vector<uint8_t> bytes;
    PETREL_CHECK(w.write_to_memory(&bytes).ok());
    std::unique_ptr<GgufFile> f;
    PETREL_CHECK(parse(bytes, &f).ok());
    if (!f) continue;
    PETREL_CHECK_EQ(f->alignment(), align);
    PETREL_CHECK((f->find("general.alignment") != nullptr) == (align != 32));
    PETREL_CHECK(f->data_offset() % align == 0);
    for (const GgufTensorInfo& t : f->tensors()) {
      PETREL_CHECK(t.file_offset % align == 0);
      PETREL_CHECK(std::memcmp(t.data, v.data(), t.size) == 0);
    }
  }
  // An explicit key works alone and must agree with the option.
  GgufWriter k;
  k.add_kv("general.alignment", GgufValue::u32(64));
  std::vector<uint8_t> bytes;
  PETREL_CHECK(k.write_to_memory(&bytes).ok());
  std::unique_ptr<GgufFile> f;
  PETREL_CHECK(parse(bytes, &f).ok() && f->alignment() == 64);
  GgufWriteOptions o;
  o.alignment = 128;
  GgufWriter bad(o);
  bad.add_kv("general.alignment", GgufValue::u32(64));
  PETREL_CHECK(bad.write_to_memory(&bytes).code() == StatusCode::invalid_argument);
  GgufWriteOptions o3;
  o3.alignment = 48;
  GgufWriter bad3(o3);
  PETREL_CHECK(bad3.write_to_memory(&bytes).code() == StatusCode::invalid_argument);
}

// A tensor far larger than one batch: same bytes for every thread count, chunked correctly.
PETREL_TEST(gguf_writer_threads_identical) {
  std::vector<uint8_t> ref;
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    GgufWriteOptions o;
    o.threads = threads;
    GgufWriter w(o);
    GgufWriteTensor t;
    t.name = "big.q8";
    t.type_id = static_cast<uint32_t>(GgmlType::Q8_0);
    t.shape = {4096, 700};  // 2.8M elements: several pieces per thread
    t.generate = random_values({1234, 0.0, 0.05, RandomTransform::none});
    w.add_tensor(t);
    GgufWriteTensor u;
    u.name = "big.f32";
    u.type_id = 0;
    u.shape = {1 << 21, 1};
    const RandomSpec u_spec{99, 1.0, 0.5, RandomTransform::none};
    u.generate = random_values(u_spec);
    w.add_tensor(u);
    std::vector<uint8_t> bytes;
    PETREL_CHECK(w.write_to_memory(&bytes).ok());
    if (ref.empty()) {
      ref = bytes;
      std::unique_ptr<GgufFile> f;
      PETREL_CHECK(parse(bytes, &f).ok());
      const GgufTensorInfo* big = f->find_tensor("big.f32");
      std::vector<float> tail(1000);
      random_fill(u_spec, (1 << 21) - 1000, tail.data(), tail.size());
      PETREL_CHECK(std::memcmp(big->data + big->size - 4000, tail.data(), 4000) == 0);
    } else {
      PETREL_CHECK(bytes == ref);
    }
  }
}

// ---- random generator ----------------------------------------------------------------------------

PETREL_TEST(gguf_random_fill_deterministic) {
  const RandomSpec spec{42, 0.0, 1.0, RandomTransform::none};
  std::vector<float> whole(100000);
  random_fill(spec, 0, whole.data(), whole.size());
  // Chunked at odd boundaries gives the same bits.
  std::vector<float> parts(whole.size());
  for (size_t at = 0; at < parts.size();) {
    const size_t n = std::min<size_t>(parts.size() - at, 777 + at % 13);
    random_fill(spec, at, parts.data() + at, n);
    at += n;
  }
  PETREL_CHECK(std::memcmp(whole.data(), parts.data(), whole.size() * 4) == 0);
  // Roughly N(0, 1).
  double sum = 0, sq = 0;
  for (float v : whole) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double mean = sum / whole.size(), var = sq / whole.size() - mean * mean;
  PETREL_CHECK(std::fabs(mean) < 0.02);
  PETREL_CHECK(std::fabs(var - 1.0) < 0.03);
  // Different seeds differ.
  std::vector<float> other(16);
  random_fill({43, 0.0, 1.0, RandomTransform::none}, 0, other.data(), 16);
  PETREL_CHECK(std::memcmp(other.data(), whole.data(), 64) != 0);
  // Golden bits: the generator must give these on every platform (x86-64 and arm64 alike).
  const uint32_t golden[6] = {0x3fb3fc8f, 0xbf339ac3, 0x3febbd29, 0xbee8208b, 0x3da24202, 0xbfca0f2c};
  for (int i = 0; i < 6; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &whole[i * 1001], 4);  // odd and even indices: both Box-Muller branches
    if (bits != golden[i]) std::fprintf(stderr, "  random golden %d: 0x%08x\n", i, bits);
    PETREL_CHECK_EQ(bits, golden[i]);
  }
}

// ---- split models --------------------------------------------------------------------------------

namespace {

// Writes part `no` (0-based) of `count` with the given tensor names (f32, 32 elements each).
Status write_part(const std::string& prefix, int no, int count, std::vector<std::string> names, int32_t total,
                  int split_count_key = -1) {
  GgufWriter w;
  if (no == 0) w.add_kv("general.architecture", GgufValue::str("test"));
  w.add_kv("split.no", GgufValue::u16(static_cast<uint16_t>(no)));
  w.add_kv("split.count", GgufValue::u16(static_cast<uint16_t>(split_count_key < 0 ? count : split_count_key)));
  w.add_kv("split.tensors.count", GgufValue::i32(total));
  static const std::vector<float> data = ramp(32, 1.0f);
  for (const std::string& n : names) {
    GgufWriteTensor t;
    t.name = n;
    t.type_id = 0;
    t.shape = {32};
    t.kind = TensorSourceKind::f32;
    t.f32 = data.data();
    t.f32_count = 32;
    w.add_tensor(t);
  }
  return w.write(gguf_split_path(prefix, no + 1, count));
}

}  // namespace

PETREL_TEST(gguf_split_model) {
  const std::string dir = temp_dir();
  const std::string prefix = dir + "/m";
  PETREL_CHECK(write_part(prefix, 0, 3, {"a", "b"}, 5).ok());
  PETREL_CHECK(write_part(prefix, 1, 3, {"c"}, 5).ok());
  PETREL_CHECK(write_part(prefix, 2, 3, {"d", "e"}, 5).ok());
  for (int open_no : {1, 2, 3}) {
    std::unique_ptr<GgufModel> m;
    const Status st = GgufModel::open(gguf_split_path(prefix, open_no, 3), &m);
    PETREL_CHECK(st.ok());
    if (!st.ok()) {
      std::fprintf(stderr, "  %s\n", st.message().c_str());
      continue;
    }
    PETREL_CHECK_EQ(m->paths().size(), size_t{3});
    PETREL_CHECK(m->paths()[2] == prefix + "-00003-of-00003.gguf");
    PETREL_CHECK_EQ(m->tensors().size(), size_t{5});
    PETREL_CHECK(m->find("general.architecture") != nullptr);  // metadata from the first part
    PETREL_CHECK(m->find_tensor("c")->split == 1 && m->find_tensor("e")->split == 2 && m->find_tensor("a")->split == 0);
    PETREL_CHECK(std::memcmp(m->find_tensor("d")->data, ramp(32, 1.0f).data(), 128) == 0);
  }
  std::string p;
  int no = 0, count = 0;
  PETREL_CHECK(gguf_parse_split_path("/x/y-00002-of-00010.gguf", &p, &no, &count) && p == "/x/y" && no == 2 && count == 10);
  PETREL_CHECK(!gguf_parse_split_path("/x/y.gguf", &p, &no, &count));

  // split.tensors.count disagrees
  const std::string p2 = dir + "/n";
  PETREL_CHECK(write_part(p2, 0, 2, {"a"}, 3).ok());
  PETREL_CHECK(write_part(p2, 1, 2, {"b"}, 3).ok());
  std::unique_ptr<GgufModel> m;
  Status st = GgufModel::open(gguf_split_path(p2, 1, 2), &m);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file && one_line(st));
  // duplicate tensor across parts
  PETREL_CHECK(write_part(p2, 0, 2, {"a"}, 2).ok());
  PETREL_CHECK(write_part(p2, 1, 2, {"a"}, 2).ok());
  st = GgufModel::open(gguf_split_path(p2, 1, 2), &m);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file && st.message().find("earlier part") != std::string::npos);
  // parts disagree on split.count
  PETREL_CHECK(write_part(p2, 1, 2, {"b"}, 2, 3).ok());
  st = GgufModel::open(gguf_split_path(p2, 1, 2), &m);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file && st.message().find("split.count") != std::string::npos);
  // missing sibling
  ::unlink(gguf_split_path(p2, 2, 2).c_str());
  st = GgufModel::open(gguf_split_path(p2, 1, 2), &m);
  PETREL_CHECK(st.code() == StatusCode::io_error && st.message().find("missing") != std::string::npos && one_line(st));
  // a split file under a name that does not follow the pattern
  const std::string odd = dir + "/odd.gguf";
  std::rename(gguf_split_path(p2, 1, 2).c_str(), odd.c_str());
  st = GgufModel::open(odd, &m);
  PETREL_CHECK(st.code() == StatusCode::io_error && one_line(st));
}

// ---- writer failure modes ------------------------------------------------------------------------

PETREL_TEST(gguf_writer_atomic) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/keep.gguf";
  const std::vector<uint8_t> old = {1, 2, 3, 4, 5};
  write_all(path, old);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());

  // Invalid spec: nothing is created, the old file stays.
  GgufWriter bad;
  GgufWriteTensor t;
  t.name = "x";
  t.type_id = 0;
  t.shape = {8};
  t.kind = TensorSourceKind::raw;
  std::vector<uint8_t> raw(31);
  t.raw = raw.data();
  t.raw_size = raw.size();
  bad.add_tensor(t);
  Status st = bad.write(path);
  PETREL_CHECK(st.code() == StatusCode::invalid_argument);
  PETREL_CHECK(read_all(path) == old && !exists(tmp));

  // Spec errors the writer must catch.
  auto refuse = [&](std::function<void(GgufWriter&)> fill, StatusCode code) {
    GgufWriter w;
    fill(w);
    std::vector<uint8_t> out;
    const Status s = w.write_to_memory(&out);
    PETREL_CHECK(s.code() == code && one_line(s));
  };
  auto tensor = [](const char* name, uint32_t type, std::vector<int64_t> shape) {
    GgufWriteTensor x;
    x.name = name;
    x.type_id = type;
    x.shape = std::move(shape);
    return x;
  };
  refuse([&](GgufWriter& w) { w.add_kv("k", GgufValue::u8(1)); w.add_kv("k", GgufValue::u8(2)); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_kv("", GgufValue::u8(1)); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", 0, {4})); w.add_tensor(tensor("a", 0, {4})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", 99, {4})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", 8, {33})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", 0, {1, 1, 1, 1, 1})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", 0, {0})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor(std::string(64, 'n').c_str(), 0, {4})); }, StatusCode::invalid_argument);
  refuse([&](GgufWriter& w) { w.add_tensor(tensor("a", static_cast<uint32_t>(GgmlType::IQ2_XXS), {256})); },
         StatusCode::unsupported);
  // Arrays nested 9 levels deep are refused; 8 levels write and read back.
  auto nested = [](int levels) {
    GgufValue v = GgufValue::array(std::vector<int8_t>{1});
    for (int i = 1; i < levels; ++i) v = GgufValue::nested_array({v});
    return v;
  };
  refuse([&](GgufWriter& w) { w.add_kv("deep", nested(9)); }, StatusCode::invalid_argument);
  {
    GgufWriter w;
    w.add_kv("deep", nested(8));
    std::vector<uint8_t> bytes;
    std::unique_ptr<GgufFile> f;
    PETREL_CHECK(w.write_to_memory(&bytes).ok() && parse(bytes, &f).ok() && *f->find("deep") == nested(8));
  }

  // Missing directory: io_error, nothing left behind.
  GgufWriter ok;
  ok.add_kv("k", GgufValue::u8(1));
  st = ok.write(dir + "/no/such/dir/x.gguf");
  PETREL_CHECK(st.code() == StatusCode::io_error && one_line(st));

  // The target is a directory: rename fails, the temp file is removed.
  const std::string sub = dir + "/adir";
  ::mkdir(sub.c_str(), 0755);
  st = ok.write(sub);
  PETREL_CHECK(!st.ok() && !exists(sub + ".tmp-" + std::to_string(::getpid())));

  // The file-size limit stops the write half way (EFBIG, like a full disk): old file untouched.
  struct rlimit saved;
  ::getrlimit(RLIMIT_FSIZE, &saved);
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 100000;
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= small.rlim_cur) {
    ::setrlimit(RLIMIT_FSIZE, &small);
    GgufWriter big;
    GgufWriteTensor r = tensor("r", 0, {1 << 18});
    r.generate = random_values({1, 0.0, 1.0, RandomTransform::none});
    big.add_tensor(r);
    st = big.write(path);
    ::setrlimit(RLIMIT_FSIZE, &saved);
    PETREL_CHECK(!st.ok() && one_line(st));
    PETREL_CHECK(read_all(path) == old && !exists(tmp));
  }
  ::signal(SIGXFSZ, old_handler);

  // A successful write replaces the old file.
  PETREL_CHECK(ok.write(path).ok());
  std::unique_ptr<GgufFile> f;
  PETREL_CHECK(GgufFile::open(path, &f).ok() && !exists(tmp));
}

// ---- hostile files -------------------------------------------------------------------------------

PETREL_TEST(gguf_hostile_truncated_everywhere) {
  GgufWriter w;
  w.add_kv("general.architecture", GgufValue::str("test"));
  w.add_kv("a", GgufValue::array(std::vector<int32_t>{1, 2, 3}));
  w.add_kv("s", GgufValue::array(std::vector<std::string>{"x", "yy"}));
  w.add_kv("n", GgufValue::nested_array({GgufValue::array(std::vector<uint8_t>{1})}));
  std::vector<float> v = ramp(64, 1.0f);
  GgufWriteTensor t;
  t.name = "w";
  t.type_id = 0;
  t.shape = {32, 2};
  t.kind = TensorSourceKind::f32;
  t.f32 = v.data();
  t.f32_count = 64;
  w.add_tensor(t);
  t.name = "v";
  t.shape = {16};
  t.f32_count = 16;
  w.add_tensor(t);
  std::vector<uint8_t> full;
  PETREL_CHECK(w.write_to_memory(&full).ok());
  std::unique_ptr<GgufFile> f;
  PETREL_CHECK(parse(full, &f).ok());
  const uint64_t data_end = f->tensors().back().file_offset + f->tensors().back().size;
  int refused = 0;
  for (size_t n = 0; n < full.size(); ++n) {
    // A copy of exactly n bytes, so ASan sees any read past the end.
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const Status st = GgufFile::open_memory(cut.empty() ? nullptr : cut.data(), cut.size(), "t.gguf", &f);
    if (n < data_end) {
      PETREL_CHECK(!st.ok() && one_line(st));
      refused += !st.ok();
    }
  }
  PETREL_CHECK_EQ(static_cast<uint64_t>(refused), data_end);
}

PETREL_TEST(gguf_hostile_corpus) {
  constexpr auto C = StatusCode::corrupt_file;
  constexpr auto U = StatusCode::unsupported;
  FileSpec base;
  base.kvs = {kv_str("general.architecture", "test")};
  PETREL_CHECK(parse(build(base)).ok());  // the unbroken file is fine

  auto with = [&](std::function<void(FileSpec&)> f) {
    FileSpec s = base;
    f(s);
    return build(s);
  };
  expect_refused("empty", {}, C, "too small");
  std::vector<uint8_t> bad_magic = build(base);
  bad_magic[2] = 'M';
  expect_refused("bad magic", bad_magic, C, "not a GGUF file (magic is 'GGMF'");
  expect_refused("3 bytes", {'G', 'G', 'U'}, C, "too small");
  expect_refused("header only", {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1}, C, "tensor count");
  expect_refused("version 1", with([](FileSpec& s) { s.version = 1; }), U, "version 1");
  expect_refused("version 4", with([](FileSpec& s) { s.version = 4; }), U, "version 4");
  expect_refused("big endian", with([](FileSpec& s) { s.version = 0x03000000; }), U, "big-endian");
  expect_refused("huge kv count", with([](FileSpec& s) { s.n_kv = 1ull << 62; }), C, "metadata entries");
  expect_refused("huge tensor count", with([](FileSpec& s) { s.n_tensors = 1ull << 62; }), C, "tensors");
  expect_refused("more kvs than present", with([](FileSpec& s) { s.n_kv = 3; }), C, "t.gguf: ");
  expect_refused("huge key length", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) { o.u64(1ull << 63); o.u32(4); o.u32(1); }};
  }), C, "key has length");
  expect_refused("huge string value", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) { o.str("k"); o.u32(8); o.u64(~0ull); }};
  }), C, "string value has length");
  expect_refused("huge array count", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) { o.str("k"); o.u32(9); o.u32(5); o.u64(1ull << 61); }};
  }), C, "array items");
  expect_refused("huge string array", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) { o.str("k"); o.u32(9); o.u32(8); o.u64(1ull << 40); }};
  }), C, "array items");
  expect_refused("nesting depth", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) {
      o.str("deep");
      o.u32(9);
      for (int i = 0; i < 12; ++i) { o.u32(9); o.u64(1); }
      o.u32(4); o.u64(0);
    }};
  }), C, "nested deeper");
  expect_refused("unknown value type", with([](FileSpec& s) { s.kvs = {kv_u32("k", 1, 13)}; }), C, "unknown value type 13");
  expect_refused("unknown array item type", with([](FileSpec& s) {
    s.kvs = {[](Bytes& o) { o.str("k"); o.u32(9); o.u32(77); o.u64(0); }};
  }), C, "unknown value type 77");
  expect_refused("bool value 2", with([](FileSpec& s) { s.kvs = {[](Bytes& o) { o.str("b"); o.u32(7); o.u8(2); }}; }), C, "bool");
  expect_refused("duplicate key", with([](FileSpec& s) { s.kvs = {kv_str("k", "1"), kv_str("k", "2")}; }), C, "duplicate metadata key 'k'");
  expect_refused("empty key", with([](FileSpec& s) { s.kvs = {kv_str("", "1")}; }), C, "empty key");
  expect_refused("alignment 0", with([](FileSpec& s) { s.kvs = {kv_u32("general.alignment", 0)}; }), C, "power of two");
  expect_refused("alignment 3", with([](FileSpec& s) { s.kvs = {kv_u32("general.alignment", 3)}; }), C, "power of two");
  expect_refused("alignment type", with([](FileSpec& s) { s.kvs = {kv_u32("general.alignment", 32, 5)}; }), C, "must be u32");
  expect_refused("unknown ggml type", with([](FileSpec& s) { s.tensors[1].type = 4; }), U, "tensor 'b' has unknown ggml type 4");
  expect_refused("huge ggml type", with([](FileSpec& s) { s.tensors[0].type = 0xffffffffu; }), U, "unknown ggml type 4294967295");
  expect_refused("5 dims", with([](FileSpec& s) { s.tensors[0].ne = {1, 1, 1, 1, 8}; }), C, "5 dimensions");
  {
    Bytes o;
    o.raw("GGUF", 4);
    o.u32(3);
    o.u64(1);
    o.u64(0);
    o.str("t");
    o.u32(0x7fffffff);
    for (int i = 0; i < 64; ++i) o.u8(0);
    expect_refused("huge n_dims", o.b, C, "2147483647 dimensions");
  }
  expect_refused("dim 0", with([](FileSpec& s) { s.tensors[0].ne = {8, 0}; }), C, "dimension 1 is 0");
  expect_refused("dim negative", with([](FileSpec& s) { s.tensors[0].ne = {~0ull}; }), C, "dimension 0");
  expect_refused("dims overflow", with([](FileSpec& s) { s.tensors[0].ne = {1ull << 32, 1ull << 32}; }), C, "overflows");
  expect_refused("dims overflow 4", with([](FileSpec& s) { s.tensors[0].ne = {1 << 16, 1 << 16, 1 << 16, 1 << 16}; }), C, "2^63");
  expect_refused("bytes overflow", with([](FileSpec& s) { s.tensors[0].ne = {1ull << 62}; }), C, "overflows");
  expect_refused("row not whole blocks", with([](FileSpec& s) { s.tensors[0].type = 8; s.tensors[0].ne = {33}; }), C,
                 "not a multiple of the q8_0 block size 32");
  expect_refused("offset not aligned", with([](FileSpec& s) { s.tensors[1].offset = 40; }), C, "not a multiple of the alignment 32");
  expect_refused("data past EOF", with([](FileSpec& s) { s.data_bytes = 60; }), C,
                 "size 32] extends past end of file (size ");
  expect_refused("offset huge", with([](FileSpec& s) { s.tensors[1].offset = ~0ull - 31; }), C, "extends past end of file");
  expect_refused("overlap", with([](FileSpec& s) { s.tensors[1].offset = 0; }), C, "overlap");
  expect_refused("overlap partial", with([](FileSpec& s) {
    s.tensors[0].ne = {16};
    s.tensors[1].offset = 32;
    s.data_bytes = 96;
  }), C, "overlap");
  expect_refused("duplicate tensor", with([](FileSpec& s) { s.tensors[1].name = "a"; }), C, "duplicate tensor 'a'");
  expect_refused("empty tensor name", with([](FileSpec& s) { s.tensors[1].name = ""; }), C, "empty name");
  expect_refused("long tensor name", with([](FileSpec& s) { s.tensors[1].name = std::string(64, 'x'); }), C, "64-byte name");
  expect_refused("hostile name bytes", with([](FileSpec& s) {
    s.tensors[1].name = std::string("b\nad\x01\xff", 6);
    s.tensors[1].type = 4;
  }), U, "tensor 'b\\x0aad\\x01\\xff'");
  expect_refused("truncated tensor info", with([](FileSpec& s) { s.n_tensors = 3; }), C, "t.gguf: ");
}

PETREL_TEST(gguf_hostile_file_paths) {
  // The mmap path: a missing file, a directory, an empty file and a truncated file.
  const std::string dir = temp_dir();
  std::unique_ptr<GgufFile> f;
  Status st = GgufFile::open(dir + "/missing.gguf", &f);
  PETREL_CHECK(st.code() == StatusCode::io_error && one_line(st));
  st = GgufFile::open(dir, &f);
  PETREL_CHECK(st.code() == StatusCode::io_error && one_line(st));
  write_all(dir + "/empty.gguf", {});
  st = GgufFile::open(dir + "/empty.gguf", &f);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file && one_line(st));
  FileSpec s;
  s.data_bytes = 63;
  write_all(dir + "/short.gguf", build(s));
  st = GgufFile::open(dir + "/short.gguf", &f);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file && st.message().find("short.gguf: tensor 'b'") != std::string::npos);
  s.data_bytes = 64;
  write_all(dir + "/ok.gguf", build(s));
  PETREL_CHECK(GgufFile::open(dir + "/ok.gguf", &f).ok());
}

}  // namespace petrel
