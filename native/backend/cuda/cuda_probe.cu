// libpetrel_cuda: device discovery and a first real kernel (Q8_0 dequantization), exported
// through the C ABI of cuda_api.h. The CUDA runtime is linked statically, so the library needs
// only the driver (libcuda.so) at run time; without one every call reports 0 devices / an error.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "core/cuda_api.h"
#include "quant/blocks.h"

namespace {

constexpr int kThreadsPerBlock = 256;

// One thread per value: block b = i / 32, quant j = i % 32; y = qs[j] * fp16(d), as the CPU.
__global__ void dequantize_q8_0_kernel(const petrel::BlockQ8_0* __restrict__ x, float* __restrict__ y, long long n) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const petrel::BlockQ8_0& b = x[i / petrel::QK8_0];
  __half_raw raw;
  raw.x = b.d;
  const float d = __half2float(__half(raw));
  y[i] = __fmul_rn(static_cast<float>(b.qs[i % petrel::QK8_0]), d);
}

int fail(cudaError_t err) { return err == cudaSuccess ? 0 : -static_cast<int>(err); }

}  // namespace

extern "C" int petrel_cuda_api_version(void) { return PETREL_CUDA_API_VERSION; }

extern "C" int petrel_cuda_device_count(void) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}

extern "C" int petrel_cuda_device_name(int i, char* buf, int len) {
  if (buf == nullptr || len <= 0 || i < 0) return PETREL_CUDA_E_INVALID_ARGUMENT;
  cudaDeviceProp prop;
  const cudaError_t err = cudaGetDeviceProperties(&prop, i);
  if (err != cudaSuccess) return fail(err);
  std::strncpy(buf, prop.name, static_cast<size_t>(len) - 1);
  buf[len - 1] = '\0';
  return 0;
}

extern "C" int petrel_cuda_dequantize_q8_0(const void* host_src, float* host_dst, long long n) {
  if (n < 0 || n % petrel::QK8_0 != 0 || (n > 0 && (host_src == nullptr || host_dst == nullptr))) {
    return PETREL_CUDA_E_INVALID_ARGUMENT;
  }
  if (n == 0) return 0;
  const size_t src_bytes = static_cast<size_t>(n / petrel::QK8_0) * sizeof(petrel::BlockQ8_0);
  const size_t dst_bytes = static_cast<size_t>(n) * sizeof(float);
  void* d_src = nullptr;
  float* d_dst = nullptr;
  cudaError_t err = cudaMalloc(&d_src, src_bytes);
  if (err == cudaSuccess) err = cudaMalloc(reinterpret_cast<void**>(&d_dst), dst_bytes);
  if (err == cudaSuccess) err = cudaMemcpy(d_src, host_src, src_bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    const long long grid = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
    if (grid > 0x7FFFFFFFLL) err = cudaErrorInvalidValue;
  }
  if (err == cudaSuccess) {
    const long long grid = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
    dequantize_q8_0_kernel<<<static_cast<unsigned>(grid), kThreadsPerBlock>>>(
        static_cast<const petrel::BlockQ8_0*>(d_src), d_dst, n);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(host_dst, d_dst, dst_bytes, cudaMemcpyDeviceToHost);
  cudaFree(d_src);
  cudaFree(d_dst);
  return fail(err);
}
