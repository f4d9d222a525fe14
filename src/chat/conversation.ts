// Turn and token bookkeeping for multi-turn chat (pure: no model, no I/O).
//
// Policy: the session's own token history is the source of truth. A new turn appends only its own
// tokens — the closing of the previous answer (the stop token that ended it is never evaluated)
// plus the template's rendering of the new user message and generation prompt — after the tokens
// the session actually holds. The conversation is never re-rendered to find a common prefix:
// Qwen3.5's template strips the reasoning of earlier answers, and re-tokenized text can differ
// from the sampled tokens, so a re-render would diverge right after the first answer.
// The whole conversation is rendered only when the session is empty (first turn, after /clear or a
// failed turn) or when it no longer fits: then the oldest turns are dropped (the system prompt is
// kept) and the rest is prefilled again from the start (Chat restores the state right after the
// system prompt from a snapshot, so the system prompt itself is not prefilled again).
import { UserError } from '../errors.js';
import type { ChatMessage } from '../templates/index.js';
import type { RenderedTurn } from './chatFormat.js';

/** What the conversation needs from the chat template (ChatFormat; tests may fake it). */
export interface TurnRenderer {
  conversation(system: string | undefined, messages: ChatMessage[], thinking: boolean): RenderedTurn;
  nextTurn(user: string, thinking: boolean): RenderedTurn;
}

export interface ConversationState {
  system?: string;
  /** Alternating user / assistant messages (the system prompt is kept apart). */
  messages: ChatMessage[];
  /** Exactly the tokens the session holds, in order. */
  tokens: number[];
}

export type TurnPlan =
  /** Prefill `tokens` after what the session holds. */
  | { kind: 'append'; tokens: number[]; startsInReasoning: boolean }
  /** Empty the session, then prefill `tokens`: the conversation without its `droppedTurns` oldest turns. */
  | { kind: 'rebuild'; tokens: number[]; startsInReasoning: boolean; droppedTurns: number; messages: ChatMessage[] };

export interface TurnLimits {
  contextLength: number;
  /** Tokens a turn keeps free for the answer when history has to be dropped to make room. */
  answerReserve: number;
}

/** Tokens kept free for an answer: the answer limit if one is set, else a quarter of the context (at most 1024). */
export function answerReserve(contextLength: number, maxTokens: number | undefined): number {
  const quarter = Math.max(1, Math.floor(contextLength / 4));
  return Math.min(maxTokens ?? 1024, quarter);
}

export class Conversation implements ConversationState {
  system: string | undefined;
  messages: ChatMessage[] = [];
  tokens: number[] = [];

  constructor(system?: string) {
    this.system = system;
  }

  get turns(): number {
    return this.messages.filter((m) => m.role === 'user').length;
  }

  /** How the next user message gets into the session; throws a UserError when it cannot fit at all. */
  plan(renderer: TurnRenderer, user: string, thinking: boolean, limits: TurnLimits): TurnPlan {
    const room = limits.contextLength - limits.answerReserve;
    if (this.tokens.length > 0) {
      const next = renderer.nextTurn(user, thinking);
      if (this.tokens.length + next.tokens.length <= room) {
        return { kind: 'append', tokens: next.tokens, startsInReasoning: next.startsInReasoning };
      }
    }
    const turnStarts = this.messages.flatMap((m, i) => (m.role === 'user' ? [i] : []));
    // Keep as many recent turns as fit; drop 0 only when the session is empty (a fresh render).
    for (let drop = this.tokens.length > 0 ? 1 : 0; drop <= turnStarts.length; drop++) {
      const kept = drop < turnStarts.length ? this.messages.slice(turnStarts[drop]) : [];
      const all = renderer.conversation(this.system, [...kept, { role: 'user', content: user }], thinking);
      const fits = all.tokens.length <= room || (drop === turnStarts.length && all.tokens.length < limits.contextLength);
      if (!fits) continue;
      if (drop === 0 && this.tokens.length === 0) return { kind: 'append', tokens: all.tokens, startsInReasoning: all.startsInReasoning };
      return { kind: 'rebuild', tokens: all.tokens, startsInReasoning: all.startsInReasoning, droppedTurns: drop, messages: kept };
    }
    const alone = renderer.conversation(this.system, [{ role: 'user', content: user }], thinking).tokens.length;
    throw new UserError(
      `this message needs ${alone} tokens${this.system ? ' with the system prompt' : ''}, but the context holds ${limits.contextLength} (raise --ctx)`,
      'ERR_CONTEXT_LIMIT',
    );
  }

  /** Records a finished turn: the plan's tokens and the generated ones are now in the session. */
  record(plan: TurnPlan, user: string, answer: { content: string; reasoning: string }, generated: number[]): void {
    if (plan.kind === 'rebuild') {
      this.messages = [...plan.messages];
      this.tokens = [];
    }
    this.tokens.push(...plan.tokens, ...generated);
    this.messages.push({ role: 'user', content: user });
    this.messages.push({ role: 'assistant', content: answer.content, ...(answer.reasoning ? { reasoning: answer.reasoning } : {}) });
  }

  /** The session no longer matches (a failed turn, /clear, a new system prompt): the next turn renders from the start. */
  resetTokens(): void {
    this.tokens = [];
  }

  clear(): void {
    this.messages = [];
    this.tokens = [];
  }

  restore(state: ConversationState): void {
    this.system = state.system;
    this.messages = [...state.messages];
    this.tokens = [...state.tokens];
  }
}
