// `petrel bench` options, validated: llama-bench's flags and list syntax (comma lists, repeated
// flags, ranges like 128-512*2), turned into one BenchOptions or a one-line UserError.
import type { Device } from '../engine/index.js';
import { UserError } from '../errors.js';

export const OUTPUT_FORMATS = ['md', 'json', 'jsonl', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Opt-in columns beyond llama-bench's: model load time, time to first token, peak resident memory. */
export const EXTRA_COLUMNS = ['load', 'ttft', 'rss'] as const;
export type ExtraColumn = (typeof EXTRA_COLUMNS)[number];

/** Where `--device` runs petrel's model (the engine's choices; llama.cpp's rows stay on the CPU). */
export const DEVICES = ['auto', 'cpu', 'vulkan'] as const satisfies readonly Device[];

/** Expert-offload devices `--device` knows besides those, with --vram (CUDA inference is not implemented yet). */
export const OFFLOAD_DEVICES = ['simulated'] as const;
export type OffloadDeviceName = (typeof OFFLOAD_DEVICES)[number];

/** The one peer `--vs` knows. */
export const PEERS = ['llama.cpp'] as const;
export type PeerName = (typeof PEERS)[number];

export interface BenchOptions {
  /** -p: prompt sizes; 0 entries are skipped, as in llama-bench. */
  nPrompt: number[];
  /** -n: generation lengths; 0 entries are skipped. */
  nGen: number[];
  /** -pg: [prompt, generation] pairs. */
  pg: Array<[number, number]>;
  /** -d: tokens already in the context before each test. */
  nDepth: number[];
  /** -r */
  repetitions: number;
  /** -t */
  threads: number[];
  output: OutputFormat;
  extra: ExtraColumn[];
  vs?: PeerName;
  /** One untimed run of each test first (--no-warmup turns it off). */
  warmup: boolean;
  /** Seed of the random token ids (the same ids for every engine). */
  seed: number;
  /** --device: where petrel's model runs (default auto; cpu with --device simulated). */
  device: Device;
  /** -ngl (llama.cpp's n_gpu_layers) when given: all layers at or above the layer count, 0 none. */
  gpuLayers?: number;
  /** --vram and --device simulated: MoE expert offload within this many bytes of device memory. */
  offload?: { device: OffloadDeviceName; vramBytes: number };
}

/** What commander collects: every value as given (repeated flags append). */
export interface RawBenchFlags {
  nPrompt?: string[];
  nGen?: string[];
  pg?: string[];
  nDepth?: string[];
  repetitions?: string;
  threads?: string[];
  output?: string;
  extra?: string | boolean;
  vs?: string;
  warmup?: boolean;
  seed?: string;
  vram?: string;
  device?: string;
  /** -ngl, already read by the command line's parser (-1: auto, as not given). */
  gpuLayers?: number;
}

export const BENCH_DEFAULTS = { nPrompt: [512], nGen: [128], nDepth: [0], repetitions: 5, output: 'md' as OutputFormat, seed: 0 };

export function parseBenchFlags(raw: RawBenchFlags, defaultThreads: number): BenchOptions {
  const options: BenchOptions = {
    nPrompt: raw.nPrompt ? parseIntList('-p', raw.nPrompt, 0) : BENCH_DEFAULTS.nPrompt,
    nGen: raw.nGen ? parseIntList('-n', raw.nGen, 0) : BENCH_DEFAULTS.nGen,
    pg: (raw.pg ?? []).flatMap(parsePgPairs),
    nDepth: raw.nDepth ? parseIntList('-d', raw.nDepth, 0) : BENCH_DEFAULTS.nDepth,
    repetitions: raw.repetitions !== undefined ? parseSingleInt('-r', raw.repetitions, 1) : BENCH_DEFAULTS.repetitions,
    threads: raw.threads ? parseIntList('-t', raw.threads, 1) : [defaultThreads],
    output: raw.output !== undefined ? parseOutput(raw.output) : BENCH_DEFAULTS.output,
    extra: parseExtra(raw.extra),
    warmup: raw.warmup ?? true,
    seed: raw.seed !== undefined ? parseSingleInt('--seed', raw.seed, 0) : BENCH_DEFAULTS.seed,
    device: 'auto',
  };
  if (raw.vs !== undefined) options.vs = parsePeer(raw.vs);
  const device = raw.device !== undefined ? parseDevice(raw.device) : undefined;
  if (device === 'simulated' || raw.vram !== undefined) {
    options.offload = parseOffload(raw.vram, device);
    options.device = 'cpu';
  } else if (device !== undefined) {
    options.device = device;
  }
  // -1 is auto: as if not given. Whether -ngl and --device agree is the command line's check.
  if (raw.gpuLayers !== undefined && raw.gpuLayers >= 0) options.gpuLayers = raw.gpuLayers;
  const anyTest = options.nPrompt.some((n) => n > 0) || options.nGen.some((n) => n > 0) || options.pg.length > 0;
  if (!anyTest) throw argError('nothing to run: every -p and -n value is 0 and no -pg was given');
  return options;
}

/**
 * llama-bench's list syntax: values separated by commas (and/or the flag repeated), each a number,
 * a range `first-last`, `first-last+step` or `first-last*factor`.
 */
export function parseIntList(flag: string, values: string[], min: number): number[] {
  const out: number[] = [];
  for (const value of values) {
    if (value.trim() === '') throw argError(`${flag}: empty value`);
    for (const item of value.split(',')) out.push(...parseRange(flag, item.trim(), min));
  }
  return out;
}

function parseRange(flag: string, item: string, min: number): number[] {
  const m = /^(\d+)(?:-(\d+)(?:([+*])(\d+))?)?$/.exec(item);
  if (!m) throw argError(`${flag}: "${item}" is not a whole number or a range (e.g. 512, 128,512 or 128-512*2)`);
  const first = toInt(flag, m[1]!, min);
  if (m[2] === undefined) return [first];
  const last = toInt(flag, m[2], min);
  const op = m[3] ?? '+';
  const step = m[4] !== undefined ? toInt(flag, m[4], 1) : 1;
  if (last < first) throw argError(`${flag}: range "${item}" ends before it starts`);
  if (op === '*' && (step < 2 || first === 0)) throw argError(`${flag}: range "${item}" never grows (factor < 2 or start 0)`);
  const out: number[] = [];
  for (let v = first; v <= last; v = op === '+' ? v + step : v * step) {
    out.push(v);
    if (out.length > 10_000) throw argError(`${flag}: range "${item}" has too many values`);
  }
  return out;
}

/** -pg takes pairs "pp,tg"; one flag value may hold several pairs ("512,128,1024,256"). */
function parsePgPairs(value: string): Array<[number, number]> {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length % 2 !== 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw argError(`-pg: "${value}" is not a pair of whole numbers "prompt,generation" (e.g. -pg 512,128)`);
  }
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < parts.length; i += 2) {
    const pp = toInt('-pg', parts[i]!, 0);
    const tg = toInt('-pg', parts[i + 1]!, 0);
    if (pp > 0 || tg > 0) pairs.push([pp, tg]);
  }
  return pairs;
}

function parseSingleInt(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw argError(`${flag}: "${value}" is not a whole number`);
  return toInt(flag, value.trim(), min);
}

function toInt(flag: string, digits: string, min: number): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n) || n > 0x7fffffff) throw argError(`${flag}: ${digits} is too large`);
  if (n < min) throw argError(`${flag}: ${digits} is below the minimum of ${min}`);
  return n;
}

function parseOutput(value: string): OutputFormat {
  const v = value.trim().toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) {
    throw argError(`-o: "${value}" is not an output format (expected ${OUTPUT_FORMATS.join(', ')})`);
  }
  return v as OutputFormat;
}

/** `--extra` alone adds every extra column; `--extra load,ttft` picks some. */
function parseExtra(value: string | boolean | undefined): ExtraColumn[] {
  if (value === undefined || value === false) return [];
  if (value === true) return [...EXTRA_COLUMNS];
  const picked = new Set<ExtraColumn>();
  for (const item of value.split(',').map((s) => s.trim().toLowerCase())) {
    if (!(EXTRA_COLUMNS as readonly string[]).includes(item)) {
      throw argError(`--extra: "${item}" is not an extra column (expected ${EXTRA_COLUMNS.join(', ')})`);
    }
    picked.add(item as ExtraColumn);
  }
  return EXTRA_COLUMNS.filter((c) => picked.has(c));
}

/** --device: one of the engine's devices, or the simulated offload device (which needs --vram). */
function parseDevice(value: string): Device | OffloadDeviceName {
  const v = value.trim().toLowerCase();
  if ((DEVICES as readonly string[]).includes(v) || (OFFLOAD_DEVICES as readonly string[]).includes(v)) return v as Device | OffloadDeviceName;
  const cuda = v === 'cuda' ? '; CUDA inference is not implemented yet' : '';
  throw argError(`--device: "${value}" is not a device (expected ${DEVICES.join(', ')}, or ${OFFLOAD_DEVICES.join(', ')} with --vram${cuda})`);
}

/** --vram <GiB> goes with --device simulated, the one offload device so far. */
function parseOffload(vram: string | undefined, device: Device | OffloadDeviceName | undefined): { device: OffloadDeviceName; vramBytes: number } {
  if (vram === undefined) throw argError('--device simulated needs --vram GiB, the simulated device\'s memory');
  if (device !== 'simulated') {
    throw argError(`--vram goes with --device simulated, the one expert-offload device${device !== undefined ? ` (not --device ${device})` : ''}`);
  }
  const gib = Number(vram.trim());
  if (!/^\d+(\.\d+)?$/.test(vram.trim()) || !(gib > 0) || gib > 1e6) throw argError(`--vram: "${vram}" is not a size in GiB > 0`);
  return { device, vramBytes: Math.floor(gib * 1024 ** 3) };
}

function parsePeer(value: string): PeerName {
  const v = value.trim().toLowerCase();
  if (v === 'llama.cpp' || v === 'llamacpp' || v === 'llama') return 'llama.cpp';
  throw argError(`--vs: "${value}" is not a known engine (expected ${PEERS.join(', ')})`);
}

/**
 * llama-bench spells some options with one dash and several letters (-pg, -ngl); commander reads
 * "-pg" as "-p g". Such words become their long form, so "-pg 512,128" means "--pg 512,128",
 * "-ngl 99" "--ngl 99", and an unsupported llama-bench option (-fa) is reported by name instead
 * of being misread.
 */
export function expandLlamaBenchFlags(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    out.push(/^-[a-z]{2,}$/i.test(a) ? `-${a}` : a);
  }
  return out;
}

function argError(message: string): UserError {
  return new UserError(`bench: ${message}`, 'ERR_USER_ARGS');
}
