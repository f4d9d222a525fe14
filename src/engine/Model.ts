// Model: a GGUF loaded for inference (weights memory-mapped, hyperparameters checked, CPU thread
// pool started, all in a native worker thread). Sessions share it.
import { loadNative, type NativeModel, type NativeModelInfo } from './native.js';
import { Session } from './Session.js';

export interface LoadModelOptions {
  /** Compute threads; default one per hardware thread. */
  threads?: number;
  /** Default context length of sessions; default the model's own. */
  contextLength?: number;
}

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
    const native = await addon.loadModel(path, { threads: options.threads, contextLength: options.contextLength });
    return new Model(path, native);
  }

  createSession(options: SessionOptions = {}): Session {
    return new Session(
      this,
      this.#native.createSession({ contextLength: options.contextLength, kvCacheType: options.kvCacheType }),
    );
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
