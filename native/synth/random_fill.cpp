// Counter-based normal generator (see random_fill.h). The elementary functions below are short
// series evaluated with basic IEEE operations only; they are accurate to a few ulp of double,
// far more than float output needs, and give the same bits on every conforming platform.
#include "synth/random_fill.h"

#include <cmath>
#include <cstring>

#if defined(__FAST_MATH__)
#error "random_fill.cpp must not be built with -ffast-math: its results must be bit-reproducible"
#endif
// A fused multiply-add rounds once instead of twice and would change the bits between machines.
// GCC does not contract in ISO C++ mode (-std=c++20, CMAKE_CXX_EXTENSIONS OFF); clang needs this.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace petrel {
namespace {

constexpr uint64_t kGamma = kSplitmix64Gamma;

constexpr double kLn2 = 0.6931471805599453094;
constexpr double kPiOver2 = 1.5707963267948966192;

// Natural log for a normal positive double.
double det_log(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  int e = static_cast<int>((bits >> 52) & 0x7ff) - 1022;
  bits = (bits & 0x000fffffffffffffull) | (1022ull << 52);  // mantissa in [0.5, 1)
  double m;
  std::memcpy(&m, &bits, 8);
  if (m < 0.70710678118654752440) {
    m = m * 2.0;
    e -= 1;
  }
  // log(m) = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.1716: the series converges by s = f^2 < 0.03 a term.
  const double f = (m - 1.0) / (m + 1.0);
  const double s = f * f;
  double p = 1.0 / 25.0;
  p = p * s + 1.0 / 23.0;
  p = p * s + 1.0 / 21.0;
  p = p * s + 1.0 / 19.0;
  p = p * s + 1.0 / 17.0;
  p = p * s + 1.0 / 15.0;
  p = p * s + 1.0 / 13.0;
  p = p * s + 1.0 / 11.0;
  p = p * s + 1.0 / 9.0;
  p = p * s + 1.0 / 7.0;
  p = p * s + 1.0 / 5.0;
  p = p * s + 1.0 / 3.0;
  p = p * s + 1.0;
  return static_cast<double>(e) * kLn2 + 2.0 * f * p;
}

// Taylor series on [0, pi/4].
double sin_small(double x) {
  const double x2 = x * x;
  double p = -1.0 / 1307674368000.0;  // -1/15!
  p = p * x2 + 1.0 / 6227020800.0;    // 1/13!
  p = p * x2 - 1.0 / 39916800.0;      // 1/11!
  p = p * x2 + 1.0 / 362880.0;        // 1/9!
  p = p * x2 - 1.0 / 5040.0;
  p = p * x2 + 1.0 / 120.0;
  p = p * x2 - 1.0 / 6.0;
  p = p * x2 + 1.0;
  return x * p;
}

double cos_small(double x) {
  const double x2 = x * x;
  double p = 1.0 / 20922789888000.0;  // 1/16!
  p = p * x2 - 1.0 / 87178291200.0;   // 1/14!
  p = p * x2 + 1.0 / 479001600.0;     // 1/12!
  p = p * x2 - 1.0 / 3628800.0;       // 1/10!
  p = p * x2 + 1.0 / 40320.0;
  p = p * x2 - 1.0 / 720.0;
  p = p * x2 + 1.0 / 24.0;
  p = p * x2 - 0.5;
  p = p * x2 + 1.0;
  return p;
}

// cos(2 pi t) and sin(2 pi t) for t in [0, 1); the quadrant split is exact in t, so no
// large-argument reduction is needed.
void det_sincos_2pi(double t, double* c, double* s) {
  const double q = t * 4.0;
  const int k = static_cast<int>(q);  // 0..3
  const double r = q - static_cast<double>(k);  // [0, 1), exact
  // cos and sin of a = r * pi/2, each from the series on [0, pi/4].
  double ca, sa;
  if (r <= 0.5) {
    const double a = r * kPiOver2;
    ca = cos_small(a);
    sa = sin_small(a);
  } else {
    const double b = (1.0 - r) * kPiOver2;  // pi/2 - a
    ca = sin_small(b);
    sa = cos_small(b);
  }
  switch (k) {
    case 0: *c = ca; *s = sa; break;
    case 1: *c = -sa; *s = ca; break;
    case 2: *c = -ca; *s = -sa; break;
    default: *c = sa; *s = -ca; break;
  }
}

double det_exp(double x) {
  if (x > 709.0) return HUGE_VAL;
  if (x < -745.0) return 0.0;
  // x = k ln2 + r, |r| <= ln2/2; ln2 split in two (fdlibm) so k * kLn2Hi is exact.
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double k = std::floor(x * (1.0 / kLn2) + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 87178291200.0;  // 1/14!
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return std::ldexp(p, static_cast<int>(k));  // exact scaling by a power of two
}

// Box-Muller pair p: elements 2p (cosine branch) and 2p+1 (sine branch) share two uniforms.
void normal_pair(uint64_t key, uint64_t p, double* z0, double* z1) {
  const uint64_t h1 = splitmix64_mix(key + (2 * p + 1) * kGamma);
  const uint64_t h2 = splitmix64_mix(key + (2 * p + 2) * kGamma);
  const double u1 = static_cast<double>((h1 >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(h2 >> 11) * 0x1.0p-53;        // [0, 1)
  const double radius = std::sqrt(-2.0 * det_log(u1));
  double c, s;
  det_sincos_2pi(u2, &c, &s);
  *z0 = radius * c;
  *z1 = radius * s;
}

uint64_t seed_key(uint64_t seed) { return splitmix64_mix(seed + kGamma); }

float finish(const RandomSpec& spec, double z) {
  double v = spec.mean + spec.std * z;
  if (spec.transform == RandomTransform::neg_exp) v = -det_exp(v);
  return static_cast<float>(v);
}

}  // namespace

void random_fill(const RandomSpec& spec, uint64_t first, float* out, size_t n) {
  const uint64_t key = seed_key(spec.seed);
  size_t k = 0;
  double z0, z1;
  if (n > 0 && (first & 1)) {  // odd start: the second half of a pair
    normal_pair(key, first / 2, &z0, &z1);
    out[k++] = finish(spec, z1);
  }
  for (; k + 1 < n; k += 2) {
    normal_pair(key, (first + k) / 2, &z0, &z1);
    out[k] = finish(spec, z0);
    out[k + 1] = finish(spec, z1);
  }
  if (k < n) {  // a lone first half at the end
    normal_pair(key, (first + k) / 2, &z0, &z1);
    out[k] = finish(spec, z0);
  }
}

uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace petrel
