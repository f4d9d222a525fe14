// Runtime CPU feature detection (see cpu_features.h). No ISA flags are needed to build this file:
// x86 uses <cpuid.h> and an inline xgetbv; arm64 asks the kernel (Linux) or sysctl (macOS).
#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define PETREL_CPU_X86 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define PETREL_CPU_ARM64_LINUX 1
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#define PETREL_CPU_ARM64_APPLE 1
#endif

#include <cstdint>
#include <utility>

namespace petrel {
namespace {

#if defined(PETREL_CPU_X86)

// XCR0: which register state the OS saves on context switch.
uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return f;
  const unsigned max_leaf = eax;

  __get_cpuid(1, &eax, &ebx, &ecx, &edx);
  const bool osxsave = (ecx >> 27) & 1;
  f.sse42 = (ecx >> 20) & 1;
  const bool cpu_avx = (ecx >> 28) & 1;
  const bool cpu_fma = (ecx >> 12) & 1;
  const bool cpu_f16c = (ecx >> 29) & 1;

  // YMM needs XCR0 bits 1 (SSE) and 2 (AVX); ZMM also needs 5, 6, 7 (opmask, ZMM0-15 high, ZMM16-31).
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;

  f.avx = cpu_avx && os_ymm;
  f.fma = cpu_fma && os_ymm;
  f.f16c = cpu_f16c && os_ymm;

  if (max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const unsigned max_sub = eax;
    f.avx2 = ((ebx >> 5) & 1) && os_ymm;
    f.bmi2 = (ebx >> 8) & 1;
    f.avx512f = ((ebx >> 16) & 1) && os_zmm;
    f.avx512dq = ((ebx >> 17) & 1) && os_zmm;
    f.avx512bw = ((ebx >> 30) & 1) && os_zmm;
    f.avx512vl = ((ebx >> 31) & 1) && os_zmm;
    f.avx512vnni = ((ecx >> 11) & 1) && os_zmm;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      f.avxvnni = ((eax >> 4) & 1) && os_ymm;
      f.avx512bf16 = ((eax >> 5) & 1) && os_zmm;
    }
  }
  return f;
}

#elif defined(PETREL_CPU_ARM64_LINUX)

// Bit numbers from the kernel's uapi asm/hwcap.h (spelled out: older headers lack some).
constexpr unsigned long kHwcapAsimd = 1ul << 1;
constexpr unsigned long kHwcapFphp = 1ul << 9;
constexpr unsigned long kHwcapAsimdhp = 1ul << 10;
constexpr unsigned long kHwcapAsimddp = 1ul << 20;
constexpr unsigned long kHwcapSve = 1ul << 22;
constexpr unsigned long kHwcap2I8mm = 1ul << 13;

CpuFeatures detect() {
  CpuFeatures f;
  const unsigned long hw = getauxval(AT_HWCAP);
  const unsigned long hw2 = getauxval(AT_HWCAP2);
  f.neon = (hw & kHwcapAsimd) != 0;
  f.dotprod = (hw & kHwcapAsimddp) != 0;
  f.fp16 = (hw & kHwcapFphp) != 0 && (hw & kHwcapAsimdhp) != 0;
  f.sve = (hw & kHwcapSve) != 0;
  f.i8mm = (hw2 & kHwcap2I8mm) != 0;
  return f;
}

#elif defined(PETREL_CPU_ARM64_APPLE)

bool sysctl_flag(const char* name) {
  int value = 0;
  size_t size = sizeof value;
  if (sysctlbyname(name, &value, &size, nullptr, 0) != 0) return false;
  return value != 0;
}

CpuFeatures detect() {
  CpuFeatures f;
  f.neon = true;  // every Apple arm64 core
  f.dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  f.fp16 = sysctl_flag("hw.optional.arm.FEAT_FP16");
  f.i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
  return f;
}

#else

CpuFeatures detect() { return CpuFeatures(); }

#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

std::vector<std::string> cpu_feature_names(const CpuFeatures& f) {
  const std::pair<bool, const char*> all[] = {
      {f.sse42, "sse4.2"},       {f.avx, "avx"},           {f.avx2, "avx2"},
      {f.fma, "fma"},            {f.f16c, "f16c"},         {f.bmi2, "bmi2"},
      {f.avx512f, "avx512f"},    {f.avx512bw, "avx512bw"}, {f.avx512vl, "avx512vl"},
      {f.avx512dq, "avx512dq"},  {f.avx512vnni, "avx512vnni"}, {f.avx512bf16, "avx512bf16"},
      {f.avxvnni, "avxvnni"},    {f.neon, "neon"},         {f.dotprod, "dotprod"},
      {f.fp16, "fp16"},          {f.i8mm, "i8mm"},         {f.sve, "sve"},
  };
  std::vector<std::string> names;
  for (const auto& [present, name] : all) {
    if (present) names.emplace_back(name);
  }
  return names;
}

}  // namespace petrel
