// What this build and this machine offer, as the native addon reports it (native/addon/system_wrap.cpp).

export interface NativeSystemInfo {
  /** CPU features found at run time, e.g. ['sse4.2','avx2','fma','f16c','avx512f','avx512vnni','avx512bf16'] */
  cpuFeatures: string[];
  /** The kernel variant the dispatcher picked: 'avx512', 'avx2', 'neon' or 'generic'. */
  cpuKernels: string;
  /** Backends compiled into this build, e.g. ['cpu', 'cuda']. */
  backendsCompiled: string[];
  /** Backends usable right now (cuda / vulkan only when their library loads and finds a device). */
  backendsAvailable: string[];
  /** GPU devices found, as '<backend>: <device>', e.g. 'vulkan: NVIDIA H100 80GB HBM3 (discrete)'. */
  devices: string[];
  /** Why a compiled-in GPU backend is not available, as '<backend>: <reason>'. */
  backendsUnavailable: string[];
  compiler: string;
  arch: string;
}

export interface NativeSystemApi {
  systemInfo(): NativeSystemInfo;
}
