// Deterministic pseudo-random tensor values for synthetic models.
// Counter-based: element i of a tensor with seed s depends only on (s, i), so any chunking, any
// thread count and any machine produce the same values. The hash is splitmix64 (integers only);
// the normal deviates are Box-Muller over two 53-bit uniforms per pair of elements (2p takes the
// cosine branch, 2p+1 the sine branch), with log/sin/cos/exp computed in
// random_fill.cpp from +, -, *, / and sqrt only (IEEE correctly rounded, no FMA contraction), so
// the float path does not depend on the platform's libm and is bit-identical on x86-64 and arm64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace petrel {

enum class RandomTransform { none, neg_exp };

struct RandomSpec {
  uint64_t seed = 0;
  double mean = 0.0;
  double std = 1.0;
  // neg_exp: the value becomes -exp(mean + std * N(0,1)) (e.g. SSM A = -exp(A_log)).
  RandomTransform transform = RandomTransform::none;
};

// splitmix64's increment and its output mix: the hash under both the values here and the random
// quantized blocks (random_blocks.cpp).
constexpr uint64_t kSplitmix64Gamma = 0x9e3779b97f4a7c15ull;
uint64_t splitmix64_mix(uint64_t z);

// out[k] = float(value of element first + k), for k < n.
void random_fill(const RandomSpec& spec, uint64_t first, float* out, size_t n);

}  // namespace petrel
