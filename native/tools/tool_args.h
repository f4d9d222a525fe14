// Argument parsing shared by the native tools (petrel_synth, petrel_quantize, petrel_bench).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace petrel::tools {

// A whole decimal number in [lo, hi], the whole string; false otherwise.
inline bool parse_count(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace petrel::tools
