// Finds and loads the optional CUDA backend library (libpetrel_cuda.so, see core/cuda_api.h) at
// run time (core/backend_library.h).
// A missing library, a missing driver or zero devices all mean "CUDA not available": never an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "petrel/status.h"

namespace petrel {

struct CudaProbe {
  bool library_loaded = false;
  std::string library_path;              // where it was loaded from (empty if not loaded)
  std::string reason;                    // why CUDA is not available (empty when it is)
  std::vector<std::string> device_names; // one per device
};

// Loads and probes once (thread-safe); later calls return the same result.
const CudaProbe& cuda_probe();

// True when the library loaded and at least one device was found.
bool cuda_available();

// Q8_0 -> f32 on the GPU (device 0). unsupported when CUDA is not available.
Status cuda_dequantize_q8_0(const void* src, float* dst, int64_t n);

}  // namespace petrel
