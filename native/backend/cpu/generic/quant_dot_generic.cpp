// Scalar quantized dot products: the meaning of CpuKernels::dot_* in plain integer arithmetic.
// Each block's integer sum is exact, then scaled once, in the order ggml's scalar code uses, so
// these are also the reference the SIMD variants are tested against.
#include "backend/cpu/generic/quant_dot_generic.h"

#include "quant/blocks.h"
#include "quant/fp16.h"

namespace petrel::cpu::generic {

void unpack_k4_scales(const uint8_t* q, uint8_t scales[8], uint8_t mins[8]) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = q[j] & 63;
      mins[j] = q[j + 4] & 63;
    } else {
      scales[j] = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
      mins[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
  }
}

namespace {

float dot_row_q4_0(const BlockQ4_0* x, const BlockQ8_0* y, int64_t nb) {
  float sum = 0.0f;
  for (int64_t ib = 0; ib < nb; ++ib) {
    int sumi = 0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      sumi += ((x[ib].qs[j] & 0xF) - 8) * y[ib].qs[j];
      sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + QK4_0 / 2];
    }
    sum += static_cast<float>(sumi) * (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d));
  }
  return sum;
}

float dot_row_q8_0(const BlockQ8_0* x, const BlockQ8_0* y, int64_t nb) {
  float sum = 0.0f;
  for (int64_t ib = 0; ib < nb; ++ib) {
    int sumi = 0;
    for (int j = 0; j < QK8_0; ++j) sumi += x[ib].qs[j] * y[ib].qs[j];
    sum += static_cast<float>(sumi) * (fp16_to_fp32(x[ib].d) * fp16_to_fp32(y[ib].d));
  }
  return sum;
}

// Q4_K / Q5_K: y = d * scale_j * q - dmin * min_j per sub-block j of 32, so
// dot = d * dy * sum_j scale_j (q . a)_j - dmin * dy * sum_j min_j * sum(a)_j (sums from bsums).
template <bool kFifthBit, typename Block>
float dot_row_q45_K(const Block* x, const BlockQ8_K* y, int64_t nb) {
  float sum = 0.0f;
  for (int64_t ib = 0; ib < nb; ++ib) {
    uint8_t scales[8], mins[8];
    unpack_k4_scales(x[ib].scales, scales, mins);
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = x[ib].qs + (j / 2) * 32;
      const int shift = (j % 2) * 4;
      int s = 0;
      for (int l = 0; l < 32; ++l) {
        int v = (q[l] >> shift) & 0xF;
        if constexpr (kFifthBit) v |= ((x[ib].qh[l] >> j) & 1) << 4;
        s += v * y[ib].qs[j * 32 + l];
      }
      sumi += scales[j] * s;
      summ += mins[j] * (y[ib].bsums[2 * j] + y[ib].bsums[2 * j + 1]);
    }
    sum += fp16_to_fp32(x[ib].d) * y[ib].d * static_cast<float>(sumi) -
           fp16_to_fp32(x[ib].dmin) * y[ib].d * static_cast<float>(summ);
  }
  return sum;
}

// Q6_K: y = d * scale_k * (q - 32) per group k of 16.
float dot_row_q6_K(const BlockQ6_K* x, const BlockQ8_K* y, int64_t nb) {
  float sum = 0.0f;
  for (int64_t ib = 0; ib < nb; ++ib) {
    int8_t q[QK_K];
    const uint8_t* ql = x[ib].ql;
    const uint8_t* qh = x[ib].qh;
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        q[half * 128 + l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        q[half * 128 + l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        q[half * 128 + l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        q[half * 128 + l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    int sumi = 0;
    for (int k = 0; k < QK_K / 16; ++k) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q[k * 16 + l] * y[ib].qs[k * 16 + l];
      sumi += x[ib].scales[k] * s;
    }
    sum += fp16_to_fp32(x[ib].d) * y[ib].d * static_cast<float>(sumi);
  }
  return sum;
}

template <typename WBlock, typename ABlock, int kBlock, float (*kRow)(const WBlock*, const ABlock*, int64_t)>
void dot_rows(const void* w, const void* a, int64_t n, int n_act, float* out) {
  const int64_t nb = n / kBlock;
  const auto* x = static_cast<const WBlock*>(w);
  const auto* y = static_cast<const ABlock*>(a);
  for (int j = 0; j < n_act; ++j) out[j] = kRow(x, y + j * nb, nb);
}

}  // namespace

void dot_q4_0(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dot_rows<BlockQ4_0, BlockQ8_0, QK4_0, dot_row_q4_0>(w, a, n, n_act, out);
}
void dot_q8_0(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dot_rows<BlockQ8_0, BlockQ8_0, QK8_0, dot_row_q8_0>(w, a, n, n_act, out);
}
void dot_q4_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dot_rows<BlockQ4_K, BlockQ8_K, QK_K, dot_row_q45_K<false, BlockQ4_K>>(w, a, n, n_act, out);
}
void dot_q5_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dot_rows<BlockQ5_K, BlockQ8_K, QK_K, dot_row_q45_K<true, BlockQ5_K>>(w, a, n, n_act, out);
}
void dot_q6_K(const void* w, const void* a, int64_t n, int n_act, float* out) {
  dot_rows<BlockQ6_K, BlockQ8_K, QK_K, dot_row_q6_K>(w, a, n, n_act, out);
}

}  // namespace petrel::cpu::generic
