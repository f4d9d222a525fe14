// The C ABI of libpetrel_cuda (backend/cuda/*.cu), the only way the rest of petrel reaches CUDA:
// core/cuda_loader.cpp dlopens the library and resolves these names, so a build or machine
// without CUDA simply has no such library. It lives here, beside the loader, and the backend
// implements it: core stays below the backends it loads. Every function returns >= 0 on success and a negative
// value on failure (-cudaError_t, or PETREL_CUDA_E_* below); none of them aborts.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// Bumped when a signature below changes; the loader refuses other versions.
#define PETREL_CUDA_API_VERSION 1

#define PETREL_CUDA_E_INVALID_ARGUMENT (-100000)

int petrel_cuda_api_version(void);

// Number of usable devices; 0 when there is no driver, no device, or any error.
int petrel_cuda_device_count(void);

// Writes device i's name (NUL-terminated, truncated to len) to buf.
int petrel_cuda_device_name(int i, char* buf, int len);

// Dequantizes n values (a whole number of 32-value Q8_0 blocks, 34 bytes each) on device 0:
// host_src -> device -> kernel -> host_dst. Bit-identical to the CPU reference for finite scales
// (the GPU may canonicalize NaN payloads).
int petrel_cuda_dequantize_q8_0(const void* host_src, float* host_dst, long long n);

#ifdef __cplusplus
}
#endif
