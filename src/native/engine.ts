// The whole native surface as TypeScript types (mirror of native/addon/*_wrap.cpp),
// and the one place that loads the compiled addon.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** GGUF metadata value types, spelled as in the GGUF spec (gguf_type). */
export type GgufValueType =
  | 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'arr' | 'u64' | 'i64' | 'f64';

/** 64-bit integers come back as number when they are safe integers, else as bigint. */
export type GgufScalar = number | bigint | boolean | string;

/** An array value; items of a nested array are themselves GgufArray. */
export interface GgufArray {
  itemType: GgufValueType;
  value: GgufScalar[] | GgufArray[];
}

export interface GgufKv {
  key: string;
  type: GgufValueType;
  /** Set when type is 'arr'. */
  itemType?: GgufValueType;
  value: GgufScalar | GgufScalar[] | GgufArray[];
}

export interface GgufTensorInfo {
  name: string;
  /** ggml type id, as stored in the file (see typeTable()). */
  type: number;
  typeName: string;
  /** ggml ne order: shape[0] is the row length. */
  shape: number[];
  nElements: number;
  /** Bytes of tensor data. */
  size: number;
  /** Which file of a split model holds it (0 for single files). */
  split: number;
  /** Absolute byte offset of the data in that file. */
  fileOffset: number;
}

export interface NativeGguf {
  readonly version: number;
  readonly alignment: number;
  readonly paths: string[];
  metadata(): GgufKv[];
  tensors(): GgufTensorInfo[];
  /** Zero-copy view of a tensor's bytes in the memory map; valid until close(). */
  tensorData(name: string): ArrayBuffer;
  /** The tensor converted to float32 with the reference dequantizer. */
  dequantize(name: string): Float32Array;
  close(): void;
}

/** Where the writer takes a tensor's values from. */
export type TensorSource =
  /** float32 values, converted to the tensor's type by petrel's reference quantizer */
  | { kind: 'f32'; data: Float32Array }
  /** bytes already in the tensor's type */
  | { kind: 'raw'; data: Uint8Array }
  /**
   * Deterministic pseudo-random values generated in C++ (same seed, same values, any machine):
   * value = mean + std * N(0,1); with transform 'neg_exp' the value becomes -exp(value).
   */
  | { kind: 'random'; seed: number; mean: number; std: number; transform?: 'neg_exp' };

export interface GgufWriteTensor {
  name: string;
  shape: number[];
  /** ggml type id */
  type: number;
  source: TensorSource;
}

export interface GgufWriteSpec {
  /** general.alignment; 32 when omitted (written as a key only when not 32). */
  alignment?: number;
  metadata: GgufKv[];
  tensors: GgufWriteTensor[];
}

export interface NativeTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
  /** petrel can convert this type to float32 */
  canDequantize: boolean;
  /** petrel has a reference quantizer for this type */
  canQuantize: boolean;
}

export interface NativeSystemInfo {
  /** CPU features found at run time, e.g. ['sse4.2','avx2','fma','f16c','avx512f','avx512vnni','avx512bf16'] */
  cpuFeatures: string[];
  /** The kernel variant the dispatcher picked: 'avx512', 'avx2', 'neon' or 'generic'. */
  cpuKernels: string;
  /** Backends compiled into this build, e.g. ['cpu', 'cuda']. */
  backendsCompiled: string[];
  /** Backends usable right now (cuda only when libpetrel_cuda loads and finds a device). */
  backendsAvailable: string[];
  compiler: string;
  arch: string;
}

// ---- engine (native/addon/engine/*_wrap.cpp) --------------------------------------------------

/**
 * MoE expert offload (native/offload/): a device holds everything that is not a routed expert plus
 * a cache of experts within `vramBytes`; cached experts run there, the CPU computes the others.
 * Only the 'simulated' device exists yet (host memory and the CPU's kernels standing in for a GPU).
 */
export interface NativeOffloadOptions {
  device: 'simulated' | 'none';
  /** The device's memory budget (required with a device). */
  vramBytes?: number;
  /** Kept out of the plan for the runtime and activations; default 256 MiB. */
  reserveBytes?: number;
  /** Expert-cache eviction; default 'lrfu' (decayed frequency). */
  eviction?: 'lru' | 'lfu' | 'lrfu';
  /** lrfu's per-step decay in (0, 1]; default 0.8. */
  decay?: number;
  /** Expert uploads one layer may start per step; default 2. */
  maxUploadsPerLayer?: number;
  /** Upload the next layer's predicted experts; default true. */
  prefetch?: boolean;
  /**
   * Prefill layers may upload all their missing experts to staging slots and run every expert on
   * the device when the device cost model says that is faster; default true.
   */
  prefillStreaming?: boolean;
  /** > 0: instead of the cost model, stream every prefill layer of at least this many tokens. */
  streamMinTokens?: number;
  /** Tests: the machine's memory as the simulated device's memory check sees it. */
  assumeHostMemoryBytes?: number;
}

export interface NativeModelOptions {
  /** Compute threads; 0 or omitted = one per hardware thread. */
  threads?: number;
  /** Default context length of new sessions; omitted = the model's own (context_length). */
  contextLength?: number;
  offload?: NativeOffloadOptions;
  /** Record every step's MoE routing to this file (for petrel_offload_sim). */
  routingTrace?: string;
}

/** What the expert offload did since the model was loaded. */
export interface NativeOffloadStats {
  /** A device or a routing trace is in use. */
  enabled: boolean;
  device: string;
  /** The placement plan in one line. */
  placement: string;
  /** Planned on the device besides experts (weights, KV cache at the context length, state). */
  deviceBytes: number;
  /** One routed expert as the file stores it (the largest of the model). */
  expertBytes: number;
  expertSlots: number;
  experts: number;
  steps: number;
  /** (token, expert) pairs the routers chose, and those the device computed. */
  rowsSelected: number;
  rowsOnDevice: number;
  expertsSelected: number;
  expertsOnDevice: number;
  uploads: number;
  prefetches: number;
  prefetchesUsed: number;
  bytesUploaded: number;
  /** Streaming prefill: staging slots, and the layers, experts, rows and bytes that went through them. */
  stagingSlots: number;
  layersStreamed: number;
  expertsStreamed: number;
  rowsStreamed: number;
  bytesStreamed: number;
  /** Why the routing trace stopped, or ''. */
  traceError: string;
}

export interface NativeModelInfo {
  /** general.architecture: 'qwen35' | 'qwen35moe' | 'qwen3next' | 'qwen3' | 'qwen3moe' */
  arch: string;
  name: string;
  /** Trunk layers that run (block_count - nextn_predict_layers). */
  nLayer: number;
  /** MTP blocks present in the file (never run). */
  nLayerNextn: number;
  nVocab: number;
  nEmbd: number;
  /** <arch>.context_length */
  contextLengthTrain: number;
  /** Default context length of new sessions. */
  contextLength: number;
  nExpert: number;
  nExpertUsed: number;
  /** No output.weight: the token embedding is the LM head. */
  tiedOutput: boolean;
  /** Per layer. */
  layerTypes: Array<'deltanet' | 'attention'>;
  /**
   * Hex id of the model's shapes; snapshots only restore into a model with the same one (and the
   * same weights: snapshots also carry a digest of the model's contents, checked on restore).
   */
  fingerprint: string;
  /** Recurrent + conv state bytes of one session (fixed). */
  stateBytes: number;
  /** float32 KV bytes per token of one session. */
  kvBytesPerToken: number;
}

export type NativeLogitsMode = 'none' | 'last' | 'all';

/** Sampling parameters; omitted fields take the native defaults (temperature 0.8, topK 40, topP 0.95, minP 0.05, no penalties, penaltyLastN 64). */
export interface NativeSamplingParams {
  /** <= 0: greedy argmax. */
  temperature?: number;
  /** <= 0: all tokens; 1: greedy. */
  topK?: number;
  /** >= 1: off. */
  topP?: number;
  /** 0: off. */
  minP?: number;
  /** 1: off. */
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Tokens of history the penalties look at; -1 = all. */
  penaltyLastN?: number;
}

export interface NativeSession {
  /** Tokens evaluated so far. */
  readonly position: number;
  readonly contextLength: number;
  /** An evaluation or file operation is in flight (every other call fails with ERR_SESSION_BUSY). */
  readonly busy: boolean;
  readonly disposed: boolean;
  /**
   * Runs the tokens on a worker thread. With 'last' / 'all' the logits are kept for sample() and,
   * unless returnLogits is false, resolved as a copy: n_vocab floats (last) or tokens.length × n_vocab (all).
   * Rejects with ERR_CONTEXT_LIMIT past the context length, ERR_INVALID_ARGUMENT for bad token ids,
   * ERR_ABORTED after cancel() (the session is then exactly as before the call). onProgress gets
   * the tokens done after each 512-token micro-batch but the last (asynchronously: a report may
   * arrive after the promise settled).
   */
  evaluate(
    tokens: Int32Array,
    logits: NativeLogitsMode,
    returnLogits?: boolean,
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float32Array | undefined>;
  /** Stops the evaluation in flight before its next micro-batch (no-op when none runs). */
  cancel(): void;
  /** Picks a token from the last evaluated logits (in C++, over the full vocabulary). */
  sample(params?: NativeSamplingParams): number;
  /** Restarts the sampler's random stream. */
  seedSampler(seed: number | bigint): void;
  /** The whole session as bytes (position, states, KV up to the position, history, last logits, RNG). */
  save(): Uint8Array;
  /**
   * Replaces the session's state by a snapshot of the same model; unchanged on error.
   * ERR_SNAPSHOT_MODEL_MISMATCH when the snapshot was taken with a model of other shapes or weights.
   */
  restore(snapshot: Uint8Array): void;
  /** The snapshot written through a temporary file and a rename. */
  saveFile(path: string): Promise<void>;
  loadFile(path: string): Promise<void>;
  /** An independent copy of the session. */
  clone(): NativeSession;
  dispose(): void;
}

export interface NativeModel {
  readonly info: NativeModelInfo;
  readonly disposed: boolean;
  createSession(options?: { contextLength?: number; kvCacheType?: 'f16' | 'f32' }): NativeSession;
  offloadStats(): NativeOffloadStats;
  /** Drops this handle's reference; the weights stay mapped until the last session is disposed. */
  dispose(): void;
}

export interface NativeAddon {
  systemInfo(): NativeSystemInfo;
  typeTable(): NativeTypeInfo[];
  /** Converts `n` elements of `type` from `data` to float32. */
  dequantize(type: number, data: Uint8Array, n: number): Float32Array;
  /** Quantizes float32 values to `type` with petrel's reference quantizer. */
  quantize(type: number, data: Float32Array): Uint8Array;
  /** Opens a GGUF file; a split model's first part opens the whole model. Throws on bad files. */
  openGguf(path: string): NativeGguf;
  /** Streams a GGUF to `path` (temporary file, then rename). onProgress gets bytes written / total. */
  writeGguf(path: string, spec: GgufWriteSpec, onProgress?: (written: number, total: number) => void): Promise<void>;
  /** Streams the model a synth recipe describes (src/synth/recipe.ts) to `path`, as writeGguf would. */
  writeGgufFromRecipe(path: string, recipePath: string, onProgress?: (written: number, total: number) => void): Promise<void>;
  /** Loads a model for inference (weights memory-mapped; runs on a worker thread). */
  loadModel(path: string, options?: NativeModelOptions): Promise<NativeModel>;
}

let cached: NativeAddon | undefined;

/** Package root: dist/engine/native.js -> ../../ (same from src/ under vitest). */
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
