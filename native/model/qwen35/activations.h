// Scalar activation functions and the tiny elementwise steps between backend operations
// (residual adds, gates). They are O(n) over activations, never over weights, so they stay plain
// loops here; everything that touches weights or the sequence goes through the Backend.
// The formulas match ggml's CPU ops in float32 (docs/MODEL.md#gates).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace petrel::qwen35 {

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// ggml_softplus: linear above 20 so exp cannot overflow.
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

// h += a over n values (residual connection).
inline void add_in_place(float* h, const float* a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h[i] += a[i];
}

// A grow-only scratch buffer of at least n floats (reused across tokens of a session).
inline float* scratch(std::vector<float>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

}  // namespace petrel::qwen35
