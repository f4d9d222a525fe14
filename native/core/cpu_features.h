// What the CPU we run on can do, found once at run time (cpuid + xgetbv on x86-64,
// getauxval(AT_HWCAP) on Linux arm64, sysctl on macOS arm64). The kernel dispatcher
// (backend/cpu/dispatch.cpp) picks its ISA variant from this; systemInfo() reports it.
// A feature counts only when the OS also saves its register state (XCR0 for YMM / ZMM).
#pragma once

#include <string>
#include <vector>

namespace petrel {

struct CpuFeatures {
  // x86-64
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool bmi2 = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avxvnni = false;  // VEX-encoded VNNI (Alder Lake and later)
  // arm64
  bool neon = false;     // Advanced SIMD ("asimd" in /proc/cpuinfo)
  bool dotprod = false;  // SDOT/UDOT ("asimddp")
  bool fp16 = false;     // half-precision arithmetic ("fphp" + "asimdhp")
  bool i8mm = false;     // SMMLA
  bool sve = false;
};

// Detected on first call; thread-safe.
const CpuFeatures& cpu_features();

// The features that are present, in a fixed order, named as systemInfo().cpuFeatures reports them:
// sse4.2 avx avx2 fma f16c bmi2 avx512f avx512bw avx512vl avx512dq avx512vnni avx512bf16 avxvnni
// neon dotprod fp16 i8mm sve. (Linux /proc/cpuinfo spells some differently: sse4_2, avx512_vnni,
// avx512_bf16, avx_vnni, asimd, asimddp, asimdhp.)
std::vector<std::string> cpu_feature_names(const CpuFeatures& f);

}  // namespace petrel
