// synth's deterministic tensor values (random_fill.h) as the GGUF writer's value generator: the
// writer defines what a generator is, synth supplies this one, so the file format never depends on
// how synthetic models are made.
#pragma once

#include "gguf/writer.h"
#include "synth/random_fill.h"

namespace petrel {

// The values random_fill gives for `spec` (copied into the generator).
inline TensorValueGenerator random_values(const RandomSpec& spec) {
  return [spec](uint64_t first, float* out, size_t n) { random_fill(spec, first, out, n); };
}

}  // namespace petrel
