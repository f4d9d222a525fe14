// The line under the prompt: speed of the last answer, context used / total, memory, thinking,
// and what Ctrl-C does right now.
import { Text } from 'ink';
import { statusLine } from '../statusText.js';
import type { Theme } from '../theme.js';
import type { ChatStatus } from '../types.js';

export interface StatusLineProps {
  status: ChatStatus;
  theme: Theme;
  busy: boolean;
  stopping: boolean;
}

export function StatusLine({ status, theme, busy, stopping }: StatusLineProps) {
  const state = stopping ? 'stopping… (Ctrl-C again quits)' : busy ? 'answering… (Ctrl-C stops)' : '/help · Ctrl-D quits';
  const full = status.contextLength > 0 && status.contextUsed / status.contextLength >= 0.9;
  const line = statusLine(status);
  return <Text>{(full ? theme.warn(line) : theme.dim(line)) + theme.dim(` · ${state}`)}</Text>;
}
