// `petrel --version`: the version, plus what this build can use on this machine.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadNative, packageRoot } from '../../native/index.js';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function versionText(): string {
  const lines = [`petrel ${packageVersion()} (node ${process.versions.node}, ${process.platform}-${process.arch})`];
  try {
    const info = loadNative().systemInfo();
    lines.push(`cpu features: ${info.cpuFeatures.join(' ') || 'none detected'}`);
    lines.push(`cpu kernels:  ${info.cpuKernels}`);
    // Models run on the CPU or a Vulkan device (--device); the CUDA library only finds devices and
    // runs its kernel tests. Say so here, as bench --help does, rather than let "cuda" read as GPU inference.
    const probeOnly: Record<string, string> = { cuda: 'cuda (device probe only)' };
    const compiled = info.backendsCompiled.map((b) => probeOnly[b] ?? b);
    const inference = info.backendsCompiled.includes('vulkan') ? 'cpu, vulkan (--device auto|cpu|vulkan)' : 'cpu';
    lines.push(`inference:    ${inference}`);
    lines.push(`backends compiled in: ${compiled.join(', ')}`);
    lines.push(`backends available:  ${info.backendsAvailable.join(', ')}`);
    for (const device of info.devices) lines.push(`device:       ${device}`);
    for (const why of info.backendsUnavailable) lines.push(`not available: ${why}`);
    lines.push(`native build: ${info.compiler} (${info.arch})`);
  } catch (err) {
    lines.push(`native addon: not loaded (${err instanceof Error ? err.message : String(err)})`);
  }
  return lines.join('\n');
}
