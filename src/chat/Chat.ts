// A chat with one loaded model: a Session kept across turns (each turn prefills only its new
// tokens, see conversation.ts), the shared turn generator of `petrel run`, context accounting with
// a stated overflow policy, and /save /load of the whole state.
// The session right after the system prompt is kept as a snapshot (a few MB: the DeltaNet state
// and the system prompt's KV), so a conversation rendered again from the start (dropping the
// oldest turns when the context is full, or after a stopped turn) restores it instead of
// prefilling the system prompt again. Ctrl-C during a prefill stops the turn: the engine puts
// the session back where it was before the prefill, and the turn is not recorded.
import path from 'node:path';
import { UserError } from '../errors.js';
import { AbortError, loadModel, SnapshotMismatchError, type LoadModelOptions, type Model, type Session } from '../engine/index.js';
import { generateTurn } from '../generate/generateTurn.js';
import { samplingFrom, type SamplingOverrides } from '../generate/qwen35Sampling.js';
import { Tokenizer } from '../tokenizer/index.js';
import { ChatFormat } from './chatFormat.js';
import { checkSameModel, checkSaveTarget, otherModelError, readChatFile, statePathFor, writeChatFile, CHAT_FILE_FORMAT, CHAT_FILE_VERSION, type ModelIdentity } from './chatFile.js';
import { answerReserve, Conversation } from './conversation.js';
import { contextNearlyFull, contextShare } from './statusText.js';
import type { AskHandlers, AskResult, ChatBackend, ChatStatus, TurnStats } from './types.js';

export interface ChatOptions {
  modelPath: string;
  system?: string;
  thinking: boolean;
  /** Upper bound on tokens per answer (default: the room left in the context). */
  maxTokens?: number;
  contextLength?: number;
  threads?: number;
  /** Where the model runs (the engine's default, the CPU, when not given). */
  device?: LoadModelOptions['device'];
  /** llama.cpp's -ngl (LoadModelOptions.gpuLayers). */
  gpuLayers?: number;
  sampling: SamplingOverrides;
}

export class Chat implements ChatBackend {
  readonly modelPath: string;
  readonly model: Model;
  readonly session: Session;
  readonly format: ChatFormat;
  readonly conversation: Conversation;
  #thinking: boolean;
  readonly #options: ChatOptions;
  /** The empty session, restored to start over. */
  readonly #empty: Uint8Array;
  /** The session right after the system prompt's tokens (see #prefillFromStart). */
  #systemState: { tokens: number[]; snapshot: Uint8Array } | undefined;
  #lastTurn: TurnStats | undefined;
  #identity: ModelIdentity | undefined;
  #warnedFull = false;
  #busy = false;

  private constructor(options: ChatOptions, model: Model, tokenizer: Tokenizer) {
    this.#options = options;
    this.modelPath = options.modelPath;
    this.model = model;
    this.session = model.createSession();
    this.#empty = this.session.save();
    this.format = new ChatFormat(tokenizer);
    this.conversation = new Conversation(options.system);
    this.#thinking = options.thinking;
  }

  static async open(options: ChatOptions): Promise<Chat> {
    const tokenizer = Tokenizer.fromGgufFile(options.modelPath);
    const model = await loadModel(options.modelPath, {
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(options.device !== undefined ? { device: options.device } : {}),
      ...(options.gpuLayers !== undefined ? { gpuLayers: options.gpuLayers } : {}),
      ...(options.contextLength !== undefined ? { contextLength: options.contextLength } : {}),
    });
    return new Chat(options, model, tokenizer);
  }

  get system(): string | undefined {
    return this.conversation.system;
  }

  get thinking(): boolean {
    return this.#thinking;
  }

  setThinking(on: boolean): void {
    this.#thinking = on;
  }

  setSystem(text: string | undefined): void {
    this.conversation.system = text;
    this.#systemState = undefined;
    this.clear();
  }

  clear(): void {
    this.conversation.clear();
    this.session.restore(this.#empty);
    this.#warnedFull = false;
  }

  /** A turn is being prefilled or generated. */
  get busy(): boolean {
    return this.#busy;
  }

  async ask(text: string, handlers: AskHandlers = {}): Promise<AskResult> {
    this.#busy = true;
    try {
      return await this.#ask(text, handlers);
    } finally {
      this.#busy = false;
    }
  }

  async #ask(text: string, handlers: AskHandlers): Promise<AskResult> {
    const ctx = this.session.contextLength;
    const reserve = answerReserve(ctx, this.#options.maxTokens);
    const plan = this.conversation.plan(this.format, text, this.#thinking, { contextLength: ctx, answerReserve: reserve });
    // The whole conversation goes into the session from its start (first turn, after /clear or a
    // stopped or failed turn, or with the oldest turns dropped), else only the new turn is appended.
    const fromStart = plan.kind === 'rebuild' || this.conversation.tokens.length === 0;
    if (plan.kind === 'rebuild') {
      const dropped = plan.droppedTurns;
      const reread = plan.tokens.length - (this.#keptSystemState(plan.tokens)?.tokens.length ?? 0);
      handlers.onNotice?.({
        level: 'warn',
        text:
          `context full: dropped the oldest ${dropped === 1 ? 'turn' : `${dropped} turns`}` +
          `${this.conversation.system ? ' (the system prompt is kept)' : ''}; reading the remaining ${reread} tokens again`,
      });
      this.conversation.resetTokens();
      this.#warnedFull = false;
    }
    const signal = handlers.signal;
    const prefilledBefore = this.session.stats.tokensPrefilled;
    const t0 = performance.now();
    try {
      if (fromStart) await this.#prefillFromStart(plan.tokens, signal);
      else await this.session.prefill(plan.tokens, signal ? { signal } : {});
    } catch (err) {
      // An aborted append left the session exactly as before the turn; anything else (a failure,
      // or a from-start prefill stopped half-way) starts the next turn from an empty session.
      if (!(err instanceof AbortError) || fromStart) {
        this.session.restore(this.#empty);
        this.conversation.resetTokens();
      }
      if (!(err instanceof AbortError)) throw err;
      const stats: TurnStats = { promptTokens: 0, prefillMs: performance.now() - t0, generatedTokens: 0, generateMs: 0, finishReason: 'aborted' };
      this.#lastTurn = stats;
      return { text: '', reasoning: '', finishReason: 'aborted', stats };
    }
    const prefillMs = performance.now() - t0;
    const turn = await generateTurn({
      session: this.session,
      tokenizer: this.format.tokenizer,
      raw: false,
      startInReasoning: plan.startsInReasoning,
      sampling: samplingFrom(this.#options.sampling, this.#thinking),
      ...(this.#options.maxTokens !== undefined ? { maxTokens: this.#options.maxTokens } : {}),
      ...(handlers.signal ? { signal: handlers.signal } : {}),
      ...(handlers.onEvent ? { onEvent: handlers.onEvent } : {}),
    });
    this.conversation.record(plan, text, { content: turn.text, reasoning: turn.reasoning }, turn.generatedTokens);
    const stats: TurnStats = {
      promptTokens: this.session.stats.tokensPrefilled - prefilledBefore,
      prefillMs,
      generatedTokens: turn.generatedTokens.length,
      generateMs: turn.generateMs,
      finishReason: turn.finishReason,
    };
    this.#lastTurn = stats;
    // A turn that ended inside its reasoning has no answer at all: one line says so, as run says it.
    // A full context is a notice (it also changes the next turn); -n or a stop inside the reasoning
    // is returned, for each UI to place: the line mode prints it, the terminal UI puts it in the
    // turn's footer (a notice would be printed above the answer it is about).
    const unanswered = turn.endedInReasoning && turn.text.trim() === '' && turn.toolCalls.length === 0;
    let noAnswer: string | undefined;
    if (unanswered && turn.finishReason === 'length') {
      const n = this.#options.maxTokens ?? turn.generatedTokens.length;
      noAnswer = `-n ${n} ran out while the model was still reasoning: no answer; raise -n or turn reasoning off (/think off)`;
    } else if (unanswered && turn.finishReason === 'stop') {
      noAnswer = 'the model stopped inside its reasoning without answering';
    }
    if (turn.finishReason === 'context') {
      const what = unanswered ? 'the context filled up while the model was still reasoning: no answer' : 'the answer stopped because the context is full';
      handlers.onNotice?.({ level: 'warn', text: `${what}; the next turn drops the oldest turns` });
    } else {
      if (!this.#warnedFull && contextNearlyFull(this.#context())) {
        this.#warnedFull = true;
        const room = ctx - reserve;
        handlers.onNotice?.({
          level: 'warn',
          text:
            `context ${contextShare(this.#context())}% full: ${this.session.position} of the ${room} tokens the conversation may hold ` +
            `(${reserve} of ${ctx} stay free for an answer); when a turn no longer fits, the oldest turns are dropped (/clear starts over)`,
        });
      }
    }
    return { text: turn.text, reasoning: turn.reasoning, finishReason: turn.finishReason, stats, ...(noAnswer ? { noAnswer } : {}) };
  }

  /**
   * Prefills a conversation rendered from the start into the session, from the kept snapshot of
   * the system prompt when the rendering begins with it; otherwise from the empty session, taking
   * that snapshot on the way (the system prompt is prefilled on its own, then the rest).
   */
  async #prefillFromStart(tokens: number[], signal: AbortSignal | undefined): Promise<void> {
    const options = signal ? { signal } : {};
    const kept = this.#keptSystemState(tokens);
    if (kept) {
      this.session.restore(kept.snapshot);
      await this.session.prefill(tokens.slice(kept.tokens.length), options);
      return;
    }
    this.session.restore(this.#empty);
    const n = this.#systemPrefixLength(tokens);
    if (n > 0) {
      await this.session.prefill(tokens.slice(0, n), options);
      this.#systemState = { tokens: tokens.slice(0, n), snapshot: this.session.save() };
    }
    await this.session.prefill(tokens.slice(n), options);
  }

  /** The kept system prompt snapshot, when `tokens` (a rendering from the start) begins with exactly its tokens. */
  #keptSystemState(tokens: number[]): { tokens: number[]; snapshot: Uint8Array } | undefined {
    const kept = this.#systemState;
    const n = this.#systemPrefixLength(tokens);
    return kept && n > 0 && kept.tokens.length === n && kept.tokens.every((t, i) => tokens[i] === t) ? kept : undefined;
  }

  /** How many of `tokens` (a rendering from the start) are the system prompt's; 0 without one, or when there is nothing after it. */
  #systemPrefixLength(tokens: number[]): number {
    const system = this.conversation.system;
    if (!system) return 0;
    const prefix = this.format.systemPrefix(system);
    return prefix.length > 0 && prefix.length < tokens.length && prefix.every((t, i) => tokens[i] === t) ? prefix.length : 0;
  }

  /** Tokens held, and the room the conversation has before the oldest turns are dropped. */
  #context(): { contextUsed: number; contextRoom: number } {
    const ctx = this.session.contextLength;
    return { contextUsed: this.session.position, contextRoom: ctx - answerReserve(ctx, this.#options.maxTokens) };
  }

  status(): ChatStatus {
    return {
      // The file name says which model and quantization; general.name is often a long description.
      modelName: path.basename(this.modelPath).replace(/\.gguf$/i, ''),
      contextUsed: this.session.position,
      contextLength: this.session.contextLength,
      contextRoom: this.#context().contextRoom,
      thinking: this.#thinking,
      turns: this.conversation.turns,
      rssBytes: process.memoryUsage().rss,
      ...(this.#lastTurn ? { lastTurn: this.#lastTurn } : {}),
      totals: { tokensPrefilled: this.session.stats.tokensPrefilled, tokensDecoded: this.session.stats.tokensDecoded },
    };
  }

  async save(file: string): Promise<string> {
    checkSaveTarget(file);
    const state = statePathFor(file);
    await this.session.saveToFile(state);
    const c = this.conversation;
    writeChatFile(file, {
      format: CHAT_FILE_FORMAT,
      version: CHAT_FILE_VERSION,
      model: { ...this.#modelIdentity(), path: path.resolve(this.modelPath) },
      state: path.basename(state),
      ...(c.system !== undefined ? { system: c.system } : {}),
      thinking: this.#thinking,
      messages: c.messages,
      tokens: c.tokens,
      savedAt: new Date().toISOString(),
    });
    return `saved ${c.turns} ${c.turns === 1 ? 'turn' : 'turns'} (${c.tokens.length} tokens) to ${file} and its model state to ${state}`;
  }

  async load(file: string): Promise<string> {
    const saved = readChatFile(file);
    checkSameModel(file, saved.model, { ...this.#modelIdentity(), path: path.resolve(this.modelPath) });
    if (saved.tokens.length >= this.session.contextLength) {
      throw new UserError(`${file} holds ${saved.tokens.length} tokens; this chat's context is ${this.session.contextLength} (raise --ctx)`, 'ERR_USER_CHAT_FILE');
    }
    const before = this.session.save();
    try {
      await this.session.loadFromFile(saved.statePath);
    } catch (err) {
      // Same shapes, other weights (another quantization or fine-tune): the engine's check.
      if (err instanceof SnapshotMismatchError) throw otherModelError(file, saved.model, { ...this.#modelIdentity(), path: path.resolve(this.modelPath) }, err);
      throw err;
    }
    const held = this.session.position;
    if (held !== saved.tokens.length) {
      this.session.restore(before);
      throw new UserError(`${file}: its model state holds ${held} tokens but the conversation ${saved.tokens.length}; the files do not belong together`, 'ERR_USER_CHAT_FILE');
    }
    this.conversation.restore({ ...(saved.system !== undefined ? { system: saved.system } : {}), messages: saved.messages, tokens: saved.tokens });
    this.#thinking = saved.thinking;
    this.#warnedFull = false;
    const turns = this.conversation.turns;
    return `loaded ${turns} ${turns === 1 ? 'turn' : 'turns'} (${saved.tokens.length} tokens) from ${file}`;
  }

  dispose(): void {
    this.session.dispose();
    this.model.dispose();
  }

  #modelIdentity(): ModelIdentity {
    this.#identity ??= { name: this.model.info.name, fingerprint: this.model.info.fingerprint };
    return this.#identity;
  }
}
