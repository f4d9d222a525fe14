// The numbers a chat shows: the one-line status under the prompt and the longer /stats report.
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

export function contextShare(s: ChatStatus): number {
  return s.contextLength > 0 ? Math.round((s.contextUsed / s.contextLength) * 100) : 0;
}

/** One line: speed of the last answer, context used / total, memory, thinking. */
export function statusLine(s: ChatStatus): string {
  const parts = [s.modelName];
  if (s.lastTurn) parts.push(`${tokensPerSecond(s.lastTurn.generatedTokens, s.lastTurn.generateMs)} tok/s`);
  parts.push(`ctx ${s.contextUsed}/${s.contextLength} (${contextShare(s)}%)`);
  parts.push(`mem ${formatBytes(s.rssBytes)}`);
  parts.push(`think ${s.thinking ? 'on' : 'off'}`);
  return parts.join(' · ');
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
    `context: ${s.contextUsed} of ${s.contextLength} tokens (${contextShare(s)}%), ${s.turns} ${s.turns === 1 ? 'turn' : 'turns'}`,
    ...(s.lastTurn ? [turnLine(s.lastTurn)] : []),
    `session totals: ${s.totals.tokensPrefilled} tokens prefilled, ${s.totals.tokensDecoded} generated`,
    `memory: ${formatBytes(s.rssBytes)} resident`,
    `thinking: ${s.thinking ? 'on' : 'off'}`,
  ].join('\n');
}
