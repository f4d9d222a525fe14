// A minimal test harness for the standalone ctest executable (no framework dependency, so the
// GPU machine can build and run it with nothing but CMake and a compiler).
//   PETREL_TEST(name) { PETREL_CHECK(cond); PETREL_CHECK_EQ(a, b); }
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace petrel::test {

struct Case {
  const char* name;
  std::function<void()> fn;
};

std::vector<Case>& registry();
void fail(const char* file, int line, const std::string& what);
// Marks the running case skipped with `reason` (the caller returns right after): where this
// machine cannot run it. The runner prints "SKIP <case>: <reason>" and counts it apart from passes.
void skip(const std::string& reason);

// Deterministic xorshift64* stream for test data (same values on every machine and compiler).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  float uniform() { return static_cast<float>(next() >> 40) * 0x1p-24f; }  // [0, 1)
  float sym() { return 2.0f * uniform() - 1.0f; }                          // [-1, 1)
  float normal() {
    const float u1 = uniform() + 0x1p-25f, u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853f * u2);
  }
};

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace petrel::test

#define PETREL_TEST(name)                                                           \
  static void petrel_test_##name();                                                 \
  static ::petrel::test::Registrar petrel_test_reg_##name(#name, petrel_test_##name); \
  static void petrel_test_##name()

#define PETREL_CHECK(cond) \
  do { if (!(cond)) ::petrel::test::fail(__FILE__, __LINE__, "check failed: " #cond); } while (0)

#define PETREL_CHECK_EQ(a, b)                                                                  \
  do {                                                                                         \
    if (!((a) == (b))) ::petrel::test::fail(__FILE__, __LINE__, "expected " #a " == " #b);     \
  } while (0)
