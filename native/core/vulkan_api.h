// The C ABI of libpetrel_vulkan (backend/vulkan/library/), resolved at run time by
// core/vulkan_loader.cpp, so a build or machine without Vulkan simply has no such library and the
// addon never links the Vulkan loader itself. It lives here, beside the loader, and the backend
// implements it: core stays below the backends it loads. Every function returns >= 0 on success
// and a negative value on failure; none of them aborts.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// Bumped when a signature below changes; the loader refuses other versions.
#define PETREL_VULKAN_API_VERSION 2

int petrel_vulkan_api_version(void);

// Number of Vulkan 1.2 compute devices; 0 when there is no driver, no device, or any error.
int petrel_vulkan_device_count(void);

// Writes device i's description ("llvmpipe (LLVM 15.0.6, 256 bits) (cpu)", NUL-terminated,
// truncated to len) to buf.
int petrel_vulkan_device_name(int i, char* buf, int len);

// 1 when device i is a GPU (discrete, integrated or virtual), 0 when it is not (a software
// device such as lavapipe), negative for a bad index.
int petrel_vulkan_device_is_gpu(int i);

// Creates the Vulkan backend on the device PETREL_VULKAN_DEVICE names, else the first discrete
// GPU, else the first integrated one, else the first device. *backend receives a new
// petrel::Backend (backend/backend.h) that the caller deletes: the addon and this library are
// built together from the same sources and the addon loads the library from beside itself, so
// the C++ interface crosses as it is (PETREL_VULKAN_API_VERSION changes with backend.h).
// *is_gpu and *memory_bytes (the largest device-local heap) describe the device chosen. On
// failure returns a negative value and writes one line to error (NUL-terminated, truncated).
int petrel_vulkan_backend_create(void** backend, int* is_gpu, unsigned long long* memory_bytes, char* error,
                                 int error_len);

#ifdef __cplusplus
}
#endif
