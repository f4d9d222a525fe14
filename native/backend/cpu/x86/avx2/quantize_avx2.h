// AVX2 activation quantizer to Q8_K (kernels.h, CpuKernels::quantize_row_q8_K), bit-identical to
// the reference; the AVX-512 table reuses it.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

#if defined(__x86_64__)
namespace petrel::cpu::avx2 {

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

}  // namespace petrel::cpu::avx2
#endif
