// The engine's part of the native addon (native/addon/engine/*_wrap.cpp): models, sessions, the
// sampler's parameters and the MoE expert offload's options and counters. src/engine/ wraps these.

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

/**
 * Where the forward pass runs (petrel::DeviceChoice, native/include/petrel/engine.h): the whole
 * model on one backend. 'auto': a Vulkan GPU (not a software device such as lavapipe) when one is
 * found and the model fits its memory, else the CPU (info.deviceNote says why); 'vulkan': a Vulkan
 * device (PETREL_VULKAN_DEVICE picks which; software devices too), an error when there is none.
 */
export type NativeDevice = 'auto' | 'cpu' | 'vulkan';

export interface NativeModelOptions {
  /** Compute threads; 0 or omitted = one per hardware thread. */
  threads?: number;
  /** Default 'cpu'. */
  device?: NativeDevice;
  /**
   * llama.cpp's -ngl: layers that run on the GPU. -1 or omitted = not given (all of them when a
   * GPU is used); 0 = none (the CPU); at least the layer count = all. Any other number is refused
   * at load: a model runs wholly on one device. A whole number from -1 to 2^31-1.
   */
  gpuLayers?: number;
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
  /** KV bytes per token of one session with the default F16 cache (twice that for an F32 cache). */
  kvBytesPerToken: number;
  /** What runs the forward pass, as llama-bench names it: 'CPU' or 'Vulkan'. */
  backend: string;
  /** The Vulkan device's name ('' on the CPU). */
  deviceName: string;
  /** Why device 'auto' chose the CPU (no GPU, too little memory); '' otherwise. */
  deviceNote: string;
}

export type NativeLogitsMode = 'none' | 'last' | 'all';

/**
 * Sampling parameters (petrel::SamplingParams, native/include/petrel/engine.h); an omitted field
 * takes the native default given with it. The engine's SamplingOptions adds the seed to these.
 */
export interface NativeSamplingParams {
  /** <= 0: greedy argmax. Default 0.8. */
  temperature?: number;
  /** <= 0: all tokens; 1: greedy. Default 40. */
  topK?: number;
  /** >= 1: off. Default 0.95. */
  topP?: number;
  /** 0: off. Default 0.05. */
  minP?: number;
  /** 1: off (default). */
  repeatPenalty?: number;
  /** 0: off (default). */
  presencePenalty?: number;
  /** 0: off (default). */
  frequencyPenalty?: number;
  /** Tokens of history the penalties look at; -1 = all. Default 64. */
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

export interface NativeEngineApi {
  /** Loads a model for inference (weights memory-mapped; runs on a worker thread). */
  loadModel(path: string, options?: NativeModelOptions): Promise<NativeModel>;
}
