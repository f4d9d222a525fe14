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
#define PETREL_VULKAN_API_VERSION 1

int petrel_vulkan_api_version(void);

// Number of Vulkan 1.2 compute devices; 0 when there is no driver, no device, or any error.
int petrel_vulkan_device_count(void);

// Writes device i's description ("llvmpipe (LLVM 15.0.6, 256 bits) (cpu)", NUL-terminated,
// truncated to len) to buf.
int petrel_vulkan_device_name(int i, char* buf, int len);

#ifdef __cplusplus
}
#endif
