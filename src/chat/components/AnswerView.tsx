// One answer: its reasoning (dimmed, or collapsed to one line; Ctrl-T toggles) and its text as
// Markdown. Used for the answer streaming in place and for finished answers in the history.
import { Box, Text } from 'ink';
import { renderMarkdown } from '../markdown.js';
import { displaySafe } from '../terminalText.js';
import type { Theme } from '../theme.js';

export interface AnswerViewProps {
  reasoning: string;
  content: string;
  showReasoning: boolean;
  theme: Theme;
  /** Still being generated. */
  streaming?: boolean;
  footer?: string;
}

export function AnswerView({ reasoning, content, showReasoning, theme, streaming = false, footer = '' }: AnswerViewProps) {
  const thinking = reasoning.trim() !== '';
  return (
    <Box flexDirection="column" marginBottom={1}>
      {thinking && showReasoning && <Text>{reasoningText(reasoning, theme)}</Text>}
      {thinking && !showReasoning && <Text>{theme.dim(`▸ reasoning hidden (${wordCount(reasoning)} words; Ctrl-T shows it)`)}</Text>}
      {content !== '' && <Text>{renderMarkdown(displaySafe(content), theme)}</Text>}
      {streaming && content === '' && !thinking && <Text>{theme.dim('…')}</Text>}
      {footer !== '' && <Text>{theme.dim(footer)}</Text>}
    </Box>
  );
}

/** Every reasoning line gets a gutter, so it stands apart from the answer even without color. */
export function reasoningText(reasoning: string, theme: Theme): string {
  return displaySafe(reasoning.trim())
    .split('\n')
    .map((line) => theme.dim(`┊ ${line}`))
    .join('\n');
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w !== '').length;
}
