// The one place that loads the compiled addon (build/native/Release/petrel.node). Its functions
// are typed per area, one file each, mirroring native/addon/*_wrap.cpp.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeEngineApi } from './engine.js';
import type { NativeFormatsApi } from './formats.js';
import type { NativeGgufApi } from './gguf.js';
import type { NativeQuantizeApi } from './quantize.js';
import type { NativeSystemApi } from './system.js';

/** Everything the addon exports (native/addon/module.cpp registers one area after the other). */
export type NativeAddon = NativeSystemApi & NativeFormatsApi & NativeGgufApi & NativeEngineApi & NativeQuantizeApi;

let cached: NativeAddon | undefined;

/** Package root: dist/native/addon.js -> ../../ (same from src/ under vitest). */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** PETREL_ADDON points at another build of the addon (sanitizer or development builds). */
export function addonPath(): string {
  return process.env.PETREL_ADDON ?? path.join(packageRoot(), 'build', 'native', 'Release', 'petrel.node');
}

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const file = addonPath();
  if (!existsSync(file)) {
    throw Object.assign(new Error(`petrel's native addon is not built (${file} is missing); run "npm run build:native"`), {
      code: 'ERR_NO_ADDON',
    });
  }
  const require = createRequire(import.meta.url);
  cached = require(file) as NativeAddon;
  return cached;
}
