// Random quantized blocks for synthetic models too large to quantize where they are made (the GPU
// machine's 21 GB Qwen3.5-35B-A3B Q4_K_M): the bytes of each block are drawn directly, with no
// float values and no quantizer, about as fast as memory takes them.
//
// Every block is valid: its f16 scales are finite and non-zero (subnormal where the std is tiny,
// as llama.cpp's quantizer makes them too), so every value it dequantizes to is finite. The
// quantized values are uniform over their range and each sub-block's scale is drawn from the upper
// half of its range; the block scales are set so that the dequantized values have mean 0 and
// standard deviation `std` (within a few per cent), the statistics the recipe gives the tensor
// (src/synth/tensorPlan.ts), which keeps a random deep model's activations in range. K-quant
// minimums equal their sub-block's scale times the middle of the value range, so each sub-block
// is centred on 0; where the value range is one short of symmetric (Q4_0, Q5_0, Q8_0, Q6_K), a
// random sign on the scale cancels the offset.
//
// Counter-based, as random_fill: block b of a tensor with seed s depends only on (s, b), so any
// chunking and thread count give the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace petrel {

// True for the types random_quant_blocks writes: Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K.
bool can_random_blocks(GgmlType type);

// Writes blocks [first_block, first_block + n_blocks) of a `type` tensor drawn with `seed`, whose
// values have mean 0 and standard deviation `std` (> 0, finite), to out (n_blocks * type_size
// bytes). The type must be one can_random_blocks accepts.
void random_quant_blocks(GgmlType type, uint64_t seed, double std, uint64_t first_block, size_t n_blocks, uint8_t* out);

}  // namespace petrel
