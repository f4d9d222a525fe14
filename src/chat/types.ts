// What the chat UIs (the Ink app and the line mode) need from a chat, so that they can be tested
// with a scripted fake and run against the real model (Chat.ts) alike.
import type { FinishReason } from '../generate/generateTurn.js';
import type { OutputEvent } from '../templates/index.js';

export interface TurnStats {
  /** Tokens prefilled for this turn (only the new ones when the session was reused). */
  promptTokens: number;
  prefillMs: number;
  generatedTokens: number;
  generateMs: number;
  finishReason: FinishReason;
}

export interface ChatStatus {
  modelName: string;
  /** Tokens the session holds. */
  contextUsed: number;
  contextLength: number;
  /**
   * Tokens the conversation may hold before a new turn drops the oldest ones: the context less
   * what an answer keeps free (conversation.ts, answerReserve).
   */
  contextRoom: number;
  thinking: boolean;
  turns: number;
  /** Resident memory of the process (weights are memory-mapped: the pages touched so far). */
  rssBytes: number;
  lastTurn?: TurnStats;
  totals: { tokensPrefilled: number; tokensDecoded: number };
}

export interface ChatNotice {
  level: 'info' | 'warn';
  text: string;
}

export interface AskHandlers {
  signal?: AbortSignal;
  onEvent?: (event: OutputEvent) => void;
  /** Things the user must be told: history dropped to fit the context, the context nearly full. */
  onNotice?: (notice: ChatNotice) => void;
}

export interface AskResult {
  text: string;
  reasoning: string;
  finishReason: FinishReason;
  stats: TurnStats;
  /**
   * Why no answer came, in one line, when the turn ended inside its reasoning because -n ran out
   * or the model stopped there (a full context is said as a notice instead).
   */
  noAnswer?: string;
}

export interface ChatBackend {
  ask(text: string, handlers: AskHandlers): Promise<AskResult>;
  status(): ChatStatus;
  readonly system: string | undefined;
  /** Sets (or, with undefined, removes) the system prompt; the conversation starts over. */
  setSystem(text: string | undefined): void;
  readonly thinking: boolean;
  setThinking(on: boolean): void;
  /** Forgets the conversation (the system prompt stays). */
  clear(): void;
  /** Writes the conversation and the model state; returns what was written, for the user. */
  save(file: string): Promise<string>;
  /** Resumes a saved conversation; returns a one-line summary. */
  load(file: string): Promise<string>;
}
