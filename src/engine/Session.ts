// Session: one sequence of a loaded model. Every forward pass runs on a native worker thread
// (the event loop only hands over token ids and receives a promise); sampling runs in C++ over
// the full vocabulary, so generate() moves one token id per step across the boundary. A prefill
// can be aborted (AbortSignal): the worker stops between 512-token micro-batches and the session
// returns to where it was before the call.
import { AbortError, fromNative } from './errors.js';
import type { Model } from './Model.js';
import type { NativeLogitsMode, NativeSession } from '../native/index.js';
import { resolveSeed, toNativeSampling, type SamplingOptions } from './sampling.js';

export interface PrefillOptions {
  /**
   * Aborting stops the evaluation before its next 512-token micro-batch (the native worker checks
   * between micro-batches, never inside one): the call rejects with an AbortError (code
   * ERR_ABORTED) and the session is exactly as it was before the call (position, states, last
   * logits). An abort that comes once the last micro-batch has started is too late: the call
   * completes normally.
   */
  signal?: AbortSignal;
  /** Tokens done so far, after each micro-batch but the last (long prompts only; never after the call settled). */
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluateOptions extends PrefillOptions {
  /** Which logits to return: none, the last token's, or every token's (rows of nVocab). Default 'last'. */
  logits?: NativeLogitsMode;
}

export interface GenerateOptions {
  /** Upper bound on tokens produced by this call. */
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Sampling one of these ends generation; the stop token is neither yielded nor evaluated. */
  stopTokens?: Iterable<number>;
  /** Checked between tokens: generation stops (without an error) once it is aborted. */
  signal?: AbortSignal;
}

/** Counters for tests and statistics. */
export interface SessionStats {
  /** Tokens run through prefill() / evaluate(). */
  tokensPrefilled: number;
  /** Tokens produced and evaluated by generate(). */
  tokensDecoded: number;
  /** Native evaluate calls. */
  evaluations: number;
}

export class Session {
  readonly model: Model;
  readonly stats: SessionStats = { tokensPrefilled: 0, tokensDecoded: 0, evaluations: 0 };
  #native: NativeSession;

  /** @internal made by Model.createSession() and clone() */
  constructor(model: Model, native: NativeSession) {
    this.model = model;
    this.#native = native;
  }

  /** Tokens in the sequence so far. */
  get position(): number {
    return this.#native.position;
  }

  get contextLength(): number {
    return this.#native.contextLength;
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /** Appends tokens to the sequence, keeping the last token's logits (in C++) for generate(). */
  async prefill(tokens: ArrayLike<number>, options: PrefillOptions = {}): Promise<void> {
    await this.#evaluate(tokens, 'last', false, options);
    this.stats.tokensPrefilled += tokens.length;
  }

  /** Appends tokens and returns the requested logits (a copy in JavaScript; meant for tests and tools). */
  async evaluate(tokens: ArrayLike<number>, options: EvaluateOptions = {}): Promise<Float32Array | undefined> {
    const out = await this.#evaluate(tokens, options.logits ?? 'last', true, options);
    this.stats.tokensPrefilled += tokens.length;
    return out;
  }

  /**
   * Produces up to maxTokens tokens after what the session holds (prefill a prompt first). Each
   * step samples from the current logits, evaluates the token on a worker thread and yields it,
   * so the session always contains every yielded token.
   */
  async *generate(options: GenerateOptions): AsyncGenerator<number, void, undefined> {
    const { maxTokens, signal } = options;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new RangeError(`generate: maxTokens must be a whole number >= 0 (got ${maxTokens})`);
    }
    const params = toNativeSampling(options.sampling);
    const stop = new Set(options.stopTokens ?? []);
    this.#native.seedSampler(resolveSeed(options.sampling?.seed));
    for (let i = 0; i < maxTokens; i++) {
      if (signal?.aborted) return;
      const token = this.#native.sample(params);
      if (stop.has(token)) return;
      await this.#evaluate([token], 'last', false);
      this.stats.tokensDecoded++;
      yield token;
    }
  }

  /** The whole session as bytes; restore() (on this or any session of the same model) returns to it. */
  save(): Uint8Array {
    return this.#native.save();
  }

  /**
   * Returns the session to a snapshot; truncating to an earlier point is restoring the snapshot taken there.
   * A snapshot of another model (other shapes, or the same shapes with other weights) throws a SnapshotMismatchError.
   */
  restore(snapshot: Uint8Array): void {
    try {
      this.#native.restore(snapshot);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Writes the snapshot to a file (temporary file, then rename). */
  async saveToFile(path: string): Promise<void> {
    await this.#native.saveFile(path);
  }

  async loadFromFile(path: string): Promise<void> {
    try {
      await this.#native.loadFile(path);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** An independent session starting from this one's state. */
  clone(): Session {
    return new Session(this.model, this.#native.clone());
  }

  dispose(): void {
    this.#native.dispose();
  }

  async #evaluate(
    tokens: ArrayLike<number>,
    mode: NativeLogitsMode,
    returnLogits: boolean,
    options: PrefillOptions = {},
  ): Promise<Float32Array | undefined> {
    const ids = toTokenArray(tokens);
    const { signal, onProgress } = options;
    if (signal?.aborted) {
      throw new AbortError(`evaluation aborted before it started; the session is at position ${this.position}`, { cause: signal.reason });
    }
    let settled = false;
    const progress = onProgress ? (done: number, total: number) => (settled ? undefined : onProgress(done, total)) : undefined;
    // cancel() stops whatever evaluation is in flight: listen only when this call is the one that runs.
    const listen = signal !== undefined && !this.#native.busy && !this.#native.disposed;
    const onAbort = () => this.#native.cancel();
    try {
      const pending = this.#native.evaluate(ids, mode, returnLogits, progress);
      if (listen) signal.addEventListener('abort', onAbort, { once: true });
      const out = await pending;
      this.stats.evaluations++;
      return out;
    } catch (err) {
      throw fromNative(err);
    } finally {
      settled = true;
      if (listen) signal.removeEventListener('abort', onAbort);
    }
  }
}

function toTokenArray(tokens: ArrayLike<number>): Int32Array {
  if (tokens instanceof Int32Array) return tokens;
  const ids = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) throw new RangeError(`token ${i} is not a valid token id (${t})`);
    ids[i] = t;
  }
  return ids;
}
