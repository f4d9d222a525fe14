// Facts about the machine a bench runs on: the CPU name (cpu_info), llama-bench's default thread
// count (physical cores, not hardware threads) and the process's peak resident memory.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export function cpuInfo(): string {
  return os.cpus()[0]?.model.trim() ?? '';
}

/** One thread per physical core (llama.cpp's cpu_get_num_math), else one per hardware thread. */
export function defaultThreadCount(): number {
  try {
    const siblings = new Set<string>();
    for (const cpu of readdirSync('/sys/devices/system/cpu')) {
      if (!/^cpu\d+$/.test(cpu)) continue;
      siblings.add(readFileSync(`/sys/devices/system/cpu/${cpu}/topology/thread_siblings_list`, 'utf8').trim());
    }
    if (siblings.size > 0) return siblings.size;
  } catch {
    // not Linux, or no topology in sysfs
  }
  return Math.max(1, os.availableParallelism());
}

/**
 * Starts a new peak-memory window where the OS allows it (Linux: writing 5 to clear_refs resets
 * VmHWM), so each test reports its own peak rather than the process's so far.
 */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux or not permitted: the peak stays the process's since it started
  }
}

/** Peak resident set size in bytes (VmHWM on Linux, else the process's maxRSS). */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
