// Random quantized blocks (see random_blocks.h). Block layouts are ggml's (ggml-common.h):
//   Q4_0  d f16 | qs[16]                         value d·(q − 8),   q in 0..15
//   Q5_0  d f16 | qh[4] | qs[16]                 value d·(q − 16),  q in 0..31
//   Q8_0  d f16 | qs[32] int8                    value d·q
//   Q4_K  d f16 | dmin f16 | scales[12] | qs[128]            value d·sc·q − dmin·m, q in 0..15
//   Q5_K  d f16 | dmin f16 | scales[12] | qh[32] | qs[128]   value d·sc·q − dmin·m, q in 0..31
//   Q6_K  ql[128] | qh[64] | scales[16] int8 | d f16         value d·sc·(q − 32),   q in 0..63
// with the K-quants' eight 6-bit (sc, m) pairs packed in scales[12] as quantize_row_q4_K_ref packs
// them. Quantized values are the random bytes as drawn (every bit pattern is a valid value);
// only the scales are then set.
#include "synth/random_blocks.h"

#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "synth/random_fill.h"

namespace petrel {
namespace {

constexpr uint64_t kGamma = kSplitmix64Gamma;

// The random words of one block: splitmix64 started at a point that depends on (seed, block).
struct BlockRng {
  uint64_t state;
  BlockRng(uint64_t seed_key, uint64_t block) : state(splitmix64_mix(seed_key ^ ((block + 1) * kGamma))) {}
  uint64_t next() {
    state += kGamma;
    return splitmix64_mix(state);
  }
  void fill(uint8_t* p, size_t n) {
    while (n >= 8) {
      const uint64_t w = next();
      std::memcpy(p, &w, 8);
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      const uint64_t w = next();
      std::memcpy(p, &w, n);
    }
  }
};

// E[x²] of x uniform over the integers lo..hi.
constexpr double mean_square(int lo, int hi) {
  double s = 0;
  for (int x = lo; x <= hi; ++x) s += static_cast<double>(x) * x;
  return s / (hi - lo + 1);
}
// Variance of q uniform over 0..n-1.
constexpr double uniform_var(int n) { return (static_cast<double>(n) * n - 1.0) / 12.0; }

// Sub-block scales: K-quants' 6-bit scales in 32..63, Q6_K's int8 scales ±(32..127).
constexpr int kScaleLo = 32, kScaleHi6 = 63, kScaleHi8 = 127;

// Standard deviation of a value for d = 1 (the jitter below has E[j²] ≈ 1.02, close enough).
double unit_std(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return std::sqrt(uniform_var(16));
    case GgmlType::Q5_0: return std::sqrt(uniform_var(32));
    case GgmlType::Q8_0: return std::sqrt(mean_square(-128, 127));
    case GgmlType::Q4_K: return std::sqrt(mean_square(kScaleLo, kScaleHi6) * uniform_var(16));
    case GgmlType::Q5_K: return std::sqrt(mean_square(kScaleLo, kScaleHi6) * uniform_var(32));
    case GgmlType::Q6_K: return std::sqrt(mean_square(kScaleLo, kScaleHi8) * uniform_var(64));
    default: return 1.0;
  }
}

// d for one block: the base scale times a jitter in [0.75, 1.25), as f16, at least the smallest
// positive f16 (a tiny std must not give an all-zero block). r's low bit is left for a sign.
uint16_t block_scale(double base, uint64_t r) {
  const double jitter = 0.75 + 0.5 * static_cast<double>(r >> 11) * 0x1.0p-53;
  const uint16_t h = fp32_to_fp16(static_cast<float>(base * jitter));
  return h == 0 ? uint16_t{1} : h;
}

void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Eight (sc, m) 6-bit pairs into scales[12], as quantize_row_q4_K_ref packs them.
void pack_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = sc[j];
      scales[j + 4] = m[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

// Q4_K / Q5_K: sub-block scales sc in 32..63 and m = sc; dmin = d·(levels − 1)/2, so a sub-block's
// values are d·sc·(q − (levels − 1)/2), centred on 0.
void k_block(uint8_t* b, BlockRng& rng, double base, int levels) {
  uint8_t sc[8], m[8];
  const uint64_t r = rng.next();
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(kScaleLo + ((r >> (5 * j)) & 31));
    m[j] = sc[j];
  }
  const uint16_t d = block_scale(base, rng.next());
  put_u16(b, d);
  put_u16(b + 2, fp32_to_fp16(fp16_to_fp32(d) * 0.5f * static_cast<float>(levels - 1)));
  pack_k_scales(sc, m, b + 4);
}

}  // namespace

bool can_random_blocks(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void random_quant_blocks(GgmlType type, uint64_t seed, double std, uint64_t first_block, size_t n_blocks, uint8_t* out) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  const size_t size = info->type_size;
  const double base = std / unit_std(type);
  const uint64_t seed_key = splitmix64_mix(seed ^ 0x5ca1ab1e0ddba11ull);
  for (size_t i = 0; i < n_blocks; ++i) {
    uint8_t* b = out + i * size;
    BlockRng rng(seed_key, first_block + i);
    rng.fill(b, size);
    switch (type) {
      case GgmlType::Q4_0:
      case GgmlType::Q5_0:
      case GgmlType::Q8_0: {
        // The values' mean is -d/2 (q − 8, q − 16 and int8 are one short of symmetric): a random
        // sign for d makes it 0.
        const uint64_t r = rng.next();
        put_u16(b, static_cast<uint16_t>(block_scale(base, r) | ((r & 1) << 15)));
        break;
      }
      case GgmlType::Q4_K:
        k_block(b, rng, base, 16);
        break;
      case GgmlType::Q5_K:
        k_block(b, rng, base, 32);
        break;
      case GgmlType::Q6_K: {
        const uint64_t r0 = rng.next(), r1 = rng.next();
        for (int j = 0; j < 16; ++j) {
          const uint64_t byte = ((j < 8 ? r0 : r1) >> (8 * (j % 8))) & 0xFF;
          // A random sign: q − 32 has mean -1/2, which the sign cancels.
          const int sc = kScaleLo + static_cast<int>(((byte >> 1) * (kScaleHi8 - kScaleLo + 1)) >> 7);
          b[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(byte & 1 ? -sc : sc));
        }
        put_u16(b + 208, block_scale(base, rng.next()));
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace petrel
