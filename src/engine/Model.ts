// Model: a GGUF loaded for inference (weights memory-mapped, hyperparameters checked, the backend
// started: the CPU's thread pool or a Vulkan device; all in a native worker thread). Sessions share it.
import {
  loadNative,
  type NativeDevice,
  type NativeModel,
  type NativeModelInfo,
  type NativeOffloadOptions,
  type NativeOffloadStats,
} from '../native/index.js';
import { Session } from './Session.js';

/** Where the forward pass runs: 'auto' (a Vulkan GPU when one fits, else the CPU), 'cpu', 'vulkan'. */
export type Device = NativeDevice;

export interface LoadModelOptions {
  /** Compute threads; default one per hardware thread. */
  threads?: number;
  /** Default 'cpu'. info.backend says what runs the model, info.deviceNote why 'auto' chose the CPU. */
  device?: Device;
  /**
   * llama.cpp's -ngl: omitted (or -1) = all layers on the GPU when one is used, 0 = none, at least
   * the layer count = all; a model runs wholly on one device, so any other number fails the load.
   */
  gpuLayers?: number;
  /** Default context length of sessions; default the model's own. */
  contextLength?: number;
  /** MoE expert offload to a device (only 'simulated' exists yet). */
  offload?: OffloadOptions;
  /** Record every step's MoE routing to this file (for petrel_offload_sim). */
  routingTrace?: string;
}

export type OffloadOptions = NativeOffloadOptions;
export type OffloadStats = NativeOffloadStats;

/** What the attention layers' KV cache stores. */
export type KvCacheType = 'f16' | 'f32';

export interface SessionOptions {
  /** Tokens the session may hold; default the model's context length. */
  contextLength?: number;
  /**
   * 'f16' (default, as llama.cpp: half the memory and bandwidth at long contexts) or 'f32'
   * (keys and values kept exactly; what comparisons against references use).
   */
  kvCacheType?: KvCacheType;
}

export type ModelInfo = NativeModelInfo;

export class Model {
  readonly path: string;
  readonly info: ModelInfo;
  #native: NativeModel;

  private constructor(path: string, native: NativeModel) {
    this.path = path;
    this.#native = native;
    this.info = native.info;
  }

  static async load(path: string, options: LoadModelOptions = {}): Promise<Model> {
    const addon = loadNative();
    const native = await addon.loadModel(path, {
      threads: options.threads,
      device: options.device,
      gpuLayers: options.gpuLayers,
      contextLength: options.contextLength,
      offload: options.offload,
      routingTrace: options.routingTrace,
    });
    return new Model(path, native);
  }

  createSession(options: SessionOptions = {}): Session {
    return new Session(
      this,
      this.#native.createSession({ contextLength: options.contextLength, kvCacheType: options.kvCacheType }),
    );
  }

  /** What the expert offload did since load (enabled: false without offload or trace). */
  offloadStats(): OffloadStats {
    return this.#native.offloadStats();
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /** Releases this handle; sessions still open keep the weights alive until they are disposed. */
  dispose(): void {
    this.#native.dispose();
  }
}

export function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  return Model.load(path, options);
}
