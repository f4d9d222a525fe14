// The line under the prompt: speed of the last answer, context used / total, memory, thinking,
// and what Ctrl-C does right now; never wider than the terminal (a wrapped status line would
// push the screen around).
import { Text } from 'ink';
import { contextNearlyFull, statusLine, type StatusHint } from '../statusText.js';
import type { Theme } from '../theme.js';
import type { ChatStatus } from '../types.js';

export interface StatusLineProps {
  status: ChatStatus;
  theme: Theme;
  busy: boolean;
  stopping: boolean;
  /** The terminal's width. */
  columns: number;
}

const HINTS: Record<'idle' | 'busy' | 'stopping', StatusHint> = {
  idle: { full: '/help · Ctrl-D quits', short: '/help' },
  busy: { full: 'answering… (Ctrl-C stops)', short: 'Ctrl-C stops' },
  stopping: { full: 'stopping… (Ctrl-C again quits)', short: 'Ctrl-C quits' },
};

export function StatusLine({ status, theme, busy, stopping, columns }: StatusLineProps) {
  const hint = HINTS[stopping ? 'stopping' : busy ? 'busy' : 'idle'];
  const line = statusLine(status, hint, columns);
  const style = contextNearlyFull(status) ? theme.warn : theme.dim;
  // truncate-end: a terminal too narrow even for the shortest form still gets one line.
  return <Text wrap="truncate-end">{style(line.stats) + theme.dim(` · ${line.hint}`)}</Text>;
}
