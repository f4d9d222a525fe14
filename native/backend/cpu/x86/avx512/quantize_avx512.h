// AVX-512 Q8_K activation quantizer (CpuKernels::quantize_row_q8_K), bit-identical to quant/ref's.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

#if defined(__x86_64__)
namespace petrel::cpu::avx512 {

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

}  // namespace petrel::cpu::avx512
#endif
