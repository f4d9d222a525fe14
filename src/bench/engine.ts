// The interface the bench runner drives: petrel and a peer (llama.cpp) implement it the same way,
// so both run the same tests, on the same token ids, in alternation.
import type { ModelDescription } from './modelDescription.js';

export type EngineName = 'petrel' | 'llama.cpp';

/** One sequence (context) sized for a group of tests. */
export interface BenchSequence {
  /** Evaluates tokens as a prompt, computing only the last position's logits (as llama-bench's pp). */
  prompt(tokens: Int32Array): Promise<void>;
  /** One decode step: one token in, its logits computed, nothing sampled (as llama-bench's tg). */
  decode(token: number): Promise<void>;
  /** Marks what the sequence holds now as the state restore() returns to (the empty or prefilled context). */
  mark(): Promise<void>;
  /** Returns to the marked state. */
  restore(): Promise<void>;
  dispose(): Promise<void>;
}

/** What a results row says about the engine's build and settings. */
export interface EngineFacts {
  engine: EngineName;
  /** build_commit / build_number of llama-bench's footer. */
  buildCommit: string;
  buildNumber: number;
  /** model_type and model_size as this engine reports them. */
  modelType: string;
  modelSize: number;
  /** KV cache element type (type_k / type_v). */
  kvType: string;
  /** Tokens per evaluate call (n_batch) and per forward pass (n_ubatch). */
  nBatch: number;
  nUbatch: number;
  /**
   * llama-bench's backend column and `backends` field: what ran the model ('CPU', 'Vulkan'), or
   * 'CPU+sim' with the simulated offload device.
   */
  backend: string;
  /** llama-bench's gpu_info: the GPU that ran the model ('' on the CPU). */
  gpuInfo: string;
  /** llama-bench's n_gpu_layers: layers that ran on the GPU (0 on the CPU). */
  nGpuLayers: number;
}

/** Expert-offload counters since the model was loaded (petrel with --vram). */
export interface OffloadCounters {
  /** (token, expert) pairs the routers chose, and those the device computed from its cache. */
  rowsSelected: number;
  rowsOnDevice: number;
  /** Bytes copied to the device: cache fills, and streamed prefill experts. */
  bytesUploaded: number;
  bytesStreamed: number;
}

/** A model loaded by one engine with one thread count. */
export interface BenchEngine {
  readonly facts: EngineFacts;
  /** Model load time in ns. */
  readonly loadNs: number;
  /** With expert offload only. */
  offloadCounters?(): OffloadCounters;
  open(contextLength: number): Promise<BenchSequence>;
  dispose(): Promise<void>;
}

export type OpenEngine = (model: ModelDescription, threads: number) => Promise<BenchEngine>;
