// The prompt: the text being written (several lines when it has them) with a reverse-video cursor,
// and under it the slash commands that match what is typed.
import { Box, Text } from 'ink';
import type { InputState } from '../inputReducer.js';
import { slashHints } from '../slashCommands.js';
import { displaySafe } from '../terminalText.js';
import type { Theme } from '../theme.js';

export interface PromptInputProps {
  input: InputState;
  theme: Theme;
  /** An answer is being generated: the prompt waits. */
  busy: boolean;
  /** Values offered by the last Tab (e.g. on|off), shown when several match. */
  candidates: readonly string[];
}

export function PromptInput({ input, theme, busy, candidates }: PromptInputProps) {
  const before = displaySafe(input.text.slice(0, input.cursor));
  const atCursor = input.text.slice(input.cursor, input.cursor + 1);
  const after = displaySafe(input.text.slice(input.cursor + (atCursor ? 1 : 0)));
  // A newline under the cursor is shown as a highlighted space at the end of its line.
  const cursor = atCursor === '' || atCursor === '\n' ? theme.cursor(' ') + atCursor : theme.cursor(displaySafe(atCursor));
  const hints = slashHints(input.text);
  const prompt = busy ? theme.dim('… ') : theme.user('› ');
  return (
    <Box flexDirection="column">
      <Text>{prompt + (before + (busy ? '' : cursor) + after).replace(/\n/g, '\n  ')}</Text>
      {hints.length > 0 && (
        <Text>{hints.map((c) => `  ${theme.accent(`/${c.name}`)} ${theme.dim(c.args ? `${c.args}  ${c.summary}` : c.summary)}`).join('\n')}</Text>
      )}
      {hints.length === 0 && candidates.length > 1 && <Text>{theme.dim(`  ${candidates.join('  ')}`)}</Text>}
    </Box>
  );
}
