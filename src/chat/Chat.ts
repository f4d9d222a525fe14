// A chat with one loaded model: a Session kept across turns (each turn prefills only its new
// tokens, see conversation.ts), the shared turn generator of `petrel run`, context accounting with
// a stated overflow policy, and /save /load of the whole state.
import path from 'node:path';
import { UserError } from '../errors.js';
import { loadModel, type Model, type Session } from '../engine/index.js';
import { generateTurn } from '../cli/generateOnce.js';
import { samplingFrom, type SamplingFlags } from '../cli/samplingOptions.js';
import { Tokenizer } from '../tokenizer/index.js';
import { ChatFormat } from './chatFormat.js';
import { checkSameModel, modelDigest, readChatFile, statePathFor, writeChatFile, CHAT_FILE_FORMAT, CHAT_FILE_VERSION, type ModelIdentity } from './chatFile.js';
import { answerReserve, Conversation } from './conversation.js';
import type { AskHandlers, AskResult, ChatBackend, ChatStatus, TurnStats } from './types.js';

export interface ChatOptions {
  modelPath: string;
  system?: string;
  thinking: boolean;
  /** Upper bound on tokens per answer (default: the room left in the context). */
  maxTokens?: number;
  contextLength?: number;
  threads?: number;
  sampling: SamplingFlags;
}

/**
 * Context use past this share of the room for history (the context less the answer reserve) is
 * announced after the turn: the next turns may have to drop the oldest ones.
 */
export const CONTEXT_WARN_SHARE = 0.9;

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
    if (plan.kind === 'rebuild') {
      const dropped = plan.droppedTurns;
      handlers.onNotice?.({
        level: 'warn',
        text:
          `context full: dropped the oldest ${dropped === 1 ? 'turn' : `${dropped} turns`}` +
          `${this.conversation.system ? ' (the system prompt is kept)' : ''}; reading the remaining ${plan.tokens.length} tokens again`,
      });
      this.session.restore(this.#empty);
      this.conversation.resetTokens();
      this.#warnedFull = false;
    }
    const t0 = performance.now();
    try {
      await this.session.prefill(plan.tokens);
    } catch (err) {
      // The session is in an unknown state: start the next turn from an empty one.
      this.session.restore(this.#empty);
      this.conversation.resetTokens();
      throw err;
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
      promptTokens: plan.tokens.length,
      prefillMs,
      generatedTokens: turn.generatedTokens.length,
      generateMs: turn.generateMs,
      finishReason: turn.finishReason,
    };
    this.#lastTurn = stats;
    if (turn.finishReason === 'context') {
      handlers.onNotice?.({ level: 'warn', text: 'the answer stopped because the context is full; the next turn drops the oldest turns' });
    } else if (!this.#warnedFull && this.session.position >= CONTEXT_WARN_SHARE * (ctx - reserve)) {
      this.#warnedFull = true;
      const pct = Math.round((this.session.position / ctx) * 100);
      handlers.onNotice?.({
        level: 'warn',
        text: `context ${pct}% full (${this.session.position}/${ctx} tokens, ${reserve} kept free for an answer): when a turn no longer fits, the oldest turns are dropped (/clear starts over)`,
      });
    }
    return { text: turn.text, reasoning: turn.reasoning, finishReason: turn.finishReason, stats };
  }

  status(): ChatStatus {
    return {
      // The file name says which model and quantization; general.name is often a long description.
      modelName: path.basename(this.modelPath).replace(/\.gguf$/i, ''),
      contextUsed: this.session.position,
      contextLength: this.session.contextLength,
      thinking: this.#thinking,
      turns: this.conversation.turns,
      rssBytes: process.memoryUsage().rss,
      ...(this.#lastTurn ? { lastTurn: this.#lastTurn } : {}),
      totals: { tokensPrefilled: this.session.stats.tokensPrefilled, tokensDecoded: this.session.stats.tokensDecoded },
    };
  }

  async save(file: string): Promise<string> {
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
    await this.session.loadFromFile(saved.statePath);
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
    this.#identity ??= { name: this.model.info.name, fingerprint: this.model.info.fingerprint, digest: modelDigest(this.modelPath) };
    return this.#identity;
  }
}
