// A minimal test harness for the standalone ctest executable (no framework dependency, so the
// GPU machine can build and run it with nothing but CMake and a compiler).
//   PETREL_TEST(name) { PETREL_CHECK(cond); PETREL_CHECK_EQ(a, b); }
#pragma once

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
