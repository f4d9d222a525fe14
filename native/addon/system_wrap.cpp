// systemInfo(): what this build contains and what this machine offers (NativeSystemInfo in
// src/native/system.ts): CPU features found, the CPU kernel variant chosen, the backends compiled
// in and those usable now, the compiler and the architecture (spelled like Node's process.arch).
#include <string>
#include <vector>

#include "addon/init.h"
#include "backend/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/cuda_loader.h"
#include "core/vulkan_loader.h"

namespace petrel::addon {
namespace {

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array arr = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::String::New(env, items[i]));
  return arr;
}

std::string compiler_string() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

const char* arch_string() {
#if defined(__x86_64__) || defined(_M_X64)
  return "x64";
#elif defined(__aarch64__) || defined(_M_ARM64)
  return "arm64";
#else
  return "unknown";
#endif
}

Napi::Value system_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // A bad PETREL_CPU_KERNELS is the user's to fix: say so rather than run other kernels quietly.
  const Status kernels_status = cpu::cpu_kernels_status();
  if (!kernels_status.ok()) {
    throw_status(env, kernels_status);
    return env.Undefined();
  }
  std::vector<std::string> compiled{"cpu"};
  std::vector<std::string> available{"cpu"};
#if defined(PETREL_BUILT_WITH_CUDA)
  compiled.emplace_back("cuda");
#endif
  if (cuda_available()) available.emplace_back("cuda");
#if defined(PETREL_BUILT_WITH_VULKAN)
  compiled.emplace_back("vulkan");
#endif
  if (vulkan_available()) available.emplace_back("vulkan");
  // "<backend>: <device>" for every GPU device found, and why a compiled-in backend found none.
  std::vector<std::string> devices, unavailable;
  for (const std::string& name : cuda_probe().device_names) devices.push_back("cuda: " + name);
  for (const std::string& name : vulkan_probe().device_names) devices.push_back("vulkan: " + name);
#if defined(PETREL_BUILT_WITH_CUDA)
  if (!cuda_available()) unavailable.push_back("cuda: " + cuda_probe().reason);
#endif
#if defined(PETREL_BUILT_WITH_VULKAN)
  if (!vulkan_available()) unavailable.push_back("vulkan: " + vulkan_probe().reason);
#endif

  Napi::Object out = Napi::Object::New(env);
  out.Set("cpuFeatures", string_array(env, cpu_feature_names(cpu_features())));
  out.Set("cpuKernels", Napi::String::New(env, cpu::cpu_kernels().name));
  out.Set("backendsCompiled", string_array(env, compiled));
  out.Set("backendsAvailable", string_array(env, available));
  out.Set("devices", string_array(env, devices));
  out.Set("backendsUnavailable", string_array(env, unavailable));
  out.Set("compiler", Napi::String::New(env, compiler_string()));
  out.Set("arch", Napi::String::New(env, arch_string()));
  return out;
}

}  // namespace

void init_system(Napi::Env env, Napi::Object exports) {
  exports.Set("systemInfo", Napi::Function::New(env, system_info, "systemInfo"));
}

}  // namespace petrel::addon
