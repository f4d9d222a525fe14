// The numbers a chat shows: the one-line status under the prompt, the longer /stats report, and
// when the context counts as nearly full.
import type { ChatStatus, TurnStats } from './types.js';

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  return `${Math.round(n / 1024 ** 2)} MiB`;
}

export function tokensPerSecond(tokens: number, ms: number): string {
  if (tokens === 0 || ms <= 0) return '–';
  const rate = (tokens / ms) * 1000;
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/**
 * "Context N% full" is measured against the room the conversation has (the context less what an
 * answer keeps free), not the whole context: at 100% of it the oldest turns start to be dropped,
 * which is what the warning is about.
 */
export const CONTEXT_WARN_SHARE = 0.9;

/** How full the conversation's room is, in percent (may pass 100 while an answer fills the reserve). */
export function contextShare(s: Pick<ChatStatus, 'contextUsed' | 'contextRoom'>): number {
  return s.contextRoom > 0 ? Math.floor((s.contextUsed / s.contextRoom) * 100) : 0;
}

/** Past the warning threshold: the chat warns once, and the status line turns yellow. */
export function contextNearlyFull(s: Pick<ChatStatus, 'contextUsed' | 'contextRoom'>): boolean {
  return s.contextRoom > 0 && s.contextUsed >= CONTEXT_WARN_SHARE * s.contextRoom;
}

/** What Ctrl-C (and the chat) is doing now, long and short. */
export interface StatusHint {
  full: string;
  short: string;
}

/**
 * The line under the prompt, made to fit `width` columns: the numbers (model, speed of the last
 * answer, context used / total, memory, thinking) and the hint. When it is too wide, the least
 * useful parts go first: memory, the long hint, thinking, most of the model name, speed, the rest of the name.
 */
export function statusLine(s: ChatStatus, hint: StatusHint, width: number): { stats: string; hint: string } {
  let model = s.modelName;
  let speed = s.lastTurn ? `${tokensPerSecond(s.lastTurn.generatedTokens, s.lastTurn.generateMs)} tok/s` : '';
  const ctx = `ctx ${s.contextUsed}/${s.contextLength}`;
  let mem = `mem ${formatBytes(s.rssBytes)}`;
  let think = `think ${s.thinking ? 'on' : 'off'}`;
  let tail = hint.full;
  const stats = () => [model, speed, ctx, mem, think].filter((p) => p !== '').join(' · ');
  const over = () => stats().length + ' · '.length + tail.length - width;
  // The model name is also in the banner; it is cut to 16 characters before the speed goes.
  const cutModel = (keep: number) => () => {
    const n = Math.max(keep, model.length - over());
    if (n < model.length) model = `${model.slice(0, Math.max(1, n - 1))}…`;
  };
  const shorter = [() => (mem = ''), () => (tail = hint.short), () => (think = ''), cutModel(16), () => (speed = ''), cutModel(2)];
  for (const step of shorter) {
    if (over() <= 0) break;
    step();
  }
  return { stats: stats(), hint: tail };
}

function turnLine(t: TurnStats): string {
  return (
    `last turn: ${t.promptTokens} prompt tokens in ${(t.prefillMs / 1000).toFixed(2)} s (${tokensPerSecond(t.promptTokens, t.prefillMs)} tok/s), ` +
    `${t.generatedTokens} generated in ${(t.generateMs / 1000).toFixed(2)} s (${tokensPerSecond(t.generatedTokens, t.generateMs)} tok/s), ended: ${t.finishReason}`
  );
}

export function statsReport(s: ChatStatus): string {
  return [
    `model: ${s.modelName}`,
    `context: ${s.contextUsed} of ${s.contextLength} tokens, ${s.turns} ${s.turns === 1 ? 'turn' : 'turns'}; ` +
      `${contextShare(s)}% of the ${s.contextRoom} the conversation may hold before the oldest turns are dropped (${s.contextLength - s.contextRoom} stay free for an answer)`,
    ...(s.lastTurn ? [turnLine(s.lastTurn)] : []),
    `session totals: ${s.totals.tokensPrefilled} tokens prefilled, ${s.totals.tokensDecoded} generated`,
    `memory: ${formatBytes(s.rssBytes)} resident`,
    `thinking: ${s.thinking ? 'on' : 'off'}`,
  ].join('\n');
}
