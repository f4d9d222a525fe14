// Runs every PETREL_TEST; prints "SKIP <case>: <reason>" for each case that cannot run here, then
// "N passed, N failed, N skipped", and exits non-zero on any failure.
#include <cstring>

#include "tests/test.h"

namespace petrel::test {

namespace {
int g_failures_in_case = 0;
std::string g_skip_reason;
}

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

void fail(const char* file, int line, const std::string& what) {
  ++g_failures_in_case;
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
}

void skip(const std::string& reason) { g_skip_reason = reason.empty() ? "(no reason given)" : reason; }

}  // namespace petrel::test

int main(int argc, char** argv) {
  using namespace petrel::test;
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& c : registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    g_failures_in_case = 0;
    g_skip_reason.clear();
    c.fn();
    if (g_failures_in_case == 0 && !g_skip_reason.empty()) {
      ++skipped;
      std::printf("SKIP %s: %s\n", c.name, g_skip_reason.c_str());
    } else if (g_failures_in_case == 0) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAIL %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 ? 0 : 1;
}
