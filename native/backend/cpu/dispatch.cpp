// Chooses the CPU kernel variant once, from the runtime CPU features; PETREL_CPU_KERNELS
// (generic | avx2 | avx512 | neon) forces one for testing and benchmarking. This is the only
// place that reads that variable. A variant is runnable only when the CPU (and OS) support every
// instruction set its file was compiled for.
#include <cstdlib>
#include <string>

#include "backend/cpu/kernels.h"
#include "core/cpu_features.h"

namespace petrel::cpu {
namespace {

struct Variant {
  const char* name;
  const CpuKernels* (*table)();  // nullptr: not compiled for this architecture
  bool (*runnable)(const CpuFeatures&);
};

const CpuKernels* generic_table() { return &cpu_kernels_generic(); }
bool always(const CpuFeatures&) { return true; }

#if defined(PETREL_ARCH_X86)
const CpuKernels* avx2_table() { return &cpu_kernels_avx2(); }
const CpuKernels* avx512_table() { return &cpu_kernels_avx512(); }
#else
constexpr const CpuKernels* (*avx2_table)() = nullptr;
constexpr const CpuKernels* (*avx512_table)() = nullptr;
#endif
#if defined(PETREL_ARCH_ARM64)
const CpuKernels* neon_table() { return &cpu_kernels_neon(); }
#else
constexpr const CpuKernels* (*neon_table)() = nullptr;
#endif

// Every flag the file is compiled with (-mavx2 -mfma -mf16c -mbmi2) must be present.
bool avx2_runnable(const CpuFeatures& f) { return f.avx2 && f.fma && f.f16c && f.bmi2; }
// DQ too: the file is compiled with -mavx512dq, so the compiler may use it anywhere in there
// (every CPU with AVX512-VNNI has DQ).
bool avx512_runnable(const CpuFeatures& f) {
  return avx2_runnable(f) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vnni;
}
bool neon_runnable(const CpuFeatures& f) { return f.neon && f.dotprod; }

// Best first; generic last.
const Variant kVariants[] = {
    {"avx512", avx512_table, avx512_runnable},
    {"avx2", avx2_table, avx2_runnable},
    {"neon", neon_table, neon_runnable},
    {"generic", generic_table, always},
};

const CpuKernels* best_runnable() {
  const CpuFeatures& f = cpu_features();
  for (const auto& v : kVariants) {
    if (v.table != nullptr && v.runnable(f)) return v.table();
  }
  return generic_table();
}

struct Choice {
  const CpuKernels* kernels;
  Status status;
};

Choice choose() {
  const char* forced = std::getenv("PETREL_CPU_KERNELS");
  if (forced == nullptr || forced[0] == '\0') return {best_runnable(), Status::ok_status()};
  const CpuKernels* k = nullptr;
  Status st = find_cpu_kernels(forced, &k);
  if (!st.ok()) {
    return {best_runnable(), Status(st.code(), "PETREL_CPU_KERNELS: " + st.message())};
  }
  return {k, Status::ok_status()};
}

const Choice& choice() {
  static const Choice c = choose();
  return c;
}

}  // namespace

const CpuKernels& cpu_kernels() { return *choice().kernels; }

Status cpu_kernels_status() { return choice().status; }

std::vector<const CpuKernels*> cpu_kernels_runnable() {
  const CpuFeatures& f = cpu_features();
  std::vector<const CpuKernels*> out{generic_table()};
  for (const auto& v : kVariants) {
    if (v.table != nullptr && v.table != generic_table && v.runnable(f)) out.push_back(v.table());
  }
  return out;
}

Status find_cpu_kernels(const std::string& name, const CpuKernels** out) {
  for (const auto& v : kVariants) {
    if (name != v.name) continue;
    if (v.table == nullptr) {
      return Status(StatusCode::unsupported, "CPU kernels '" + name + "' are not built for this architecture");
    }
    if (!v.runnable(cpu_features())) {
      return Status(StatusCode::unsupported, "CPU kernels '" + name + "' need instructions this CPU lacks");
    }
    *out = v.table();
    return Status::ok_status();
  }
  return Status(StatusCode::invalid_argument,
                "unknown CPU kernels '" + name + "' (expected generic, avx2, avx512 or neon)");
}

}  // namespace petrel::cpu
