// The model `petrel bench` measures when none is named: a synthetic model with Qwen3.5-0.8B's
// exact shapes (random weights, so no download), quantized to Q4_K_M like the GGUFs people run.
// It is made once and cached; the file name holds everything that decides its bytes.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { SYNTH_FORMAT_VERSION, synthesize } from '../synth/index.js';

/** What src/quantize exports as quantizeGguf (the parts bench uses). */
export type QuantizeFn = (options: {
  input: string;
  output: string;
  type: 'q4_k_m';
  threads?: number;
  force?: boolean;
  onProgress?: (progress: unknown) => void;
}) => Promise<unknown>;

export type DefaultModelStep =
  | { step: 'synth'; done: number; total: number }
  | { step: 'quantize'; fraction?: number };

export interface DefaultModelOptions {
  /** Where cached bench models live; default $XDG_CACHE_HOME/petrel/bench (~/.cache/petrel/bench). */
  cacheDir?: string;
  /** Synthetic preset; '0.8b' (tests pass a tiny one). */
  preset?: string;
  threads?: number;
  onProgress?: (p: DefaultModelStep) => void;
  /** The quantizer; src/quantize's quantizeGguf unless a test passes another. */
  quantize?: QuantizeFn;
}

export const DEFAULT_BENCH_PRESET = '0.8b';

export function benchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'petrel', 'bench');
}

export function defaultModelPath(cacheDir: string, preset = DEFAULT_BENCH_PRESET): string {
  return path.join(cacheDir, `qwen35-${preset}-q4_k_m-s0-v${SYNTH_FORMAT_VERSION}.gguf`);
}

/** The cached default model's path, generated (F16 synth, then Q4_K_M) on first use. */
export async function ensureDefaultModel(options: DefaultModelOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? benchCacheDir();
  const preset = options.preset ?? DEFAULT_BENCH_PRESET;
  const file = defaultModelPath(cacheDir, preset);
  if (existsSync(file)) return file;

  mkdirSync(cacheDir, { recursive: true });
  // F16 is what a converted Hugging Face checkpoint is before llama-quantize; it is only an input.
  const source = path.join(cacheDir, `.${path.basename(file, '.gguf')}-f16-${process.pid}.gguf`);
  try {
    await synthesize(preset, source, {
      type: 'f16',
      seed: 0,
      onProgress: (done, total) => options.onProgress?.({ step: 'synth', done, total }),
    });
    const quantize = options.quantize ?? (await loadQuantizer());
    options.onProgress?.({ step: 'quantize' });
    await quantize({
      input: source,
      output: file,
      type: 'q4_k_m',
      threads: options.threads,
      force: true,
      onProgress: (p) => options.onProgress?.({ step: 'quantize', fraction: progressFraction(p) }),
    });
  } finally {
    rmSync(source, { force: true });
  }
  return file;
}

async function loadQuantizer(): Promise<QuantizeFn> {
  const { quantizeGguf } = await import('../quantize/index.js');
  return quantizeGguf;
}

/** The share done, from whatever counters a progress report carries. */
export function progressFraction(p: unknown): number | undefined {
  if (typeof p === 'number') return p <= 1 ? p : undefined;
  if (!p || typeof p !== 'object') return undefined;
  const o = p as Record<string, unknown>;
  const pairs: Array<[string, string]> = [
    ['doneBytes', 'totalBytes'],
    ['done', 'total'],
    ['bytesWritten', 'bytesTotal'],
    ['written', 'total'],
    ['tensorsDone', 'tensorsTotal'],
    ['tensor', 'tensors'],
    ['index', 'count'],
  ];
  for (const [a, b] of pairs) {
    const x = o[a];
    const y = o[b];
    if (typeof x === 'number' && typeof y === 'number' && y > 0) return Math.min(1, x / y);
  }
  if (typeof o.fraction === 'number') return o.fraction;
  return undefined;
}
