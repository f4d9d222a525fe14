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
      {thinking && showReasoning && <Reasoning text={reasoning} theme={theme} />}
      {thinking && !showReasoning && <Text>{theme.dim(`▸ reasoning hidden (${wordCount(reasoning)} words; Ctrl-T shows it)`)}</Text>}
      {content !== '' && <Text>{renderMarkdown(displaySafe(content), theme)}</Text>}
      {streaming && content === '' && !thinking && <Text>{theme.dim('…')}</Text>}
      {footer !== '' && <Text>{theme.dim(footer)}</Text>}
    </Box>
  );
}

// Only the left side is drawn, and Ink draws it on every row of the box, wrapped rows included.
const GUTTER = { topLeft: '', top: '', topRight: '', right: '', bottomRight: '', bottom: '', bottomLeft: '', left: '┊' };

/** Reasoning gets a gutter on every row, so it stands apart from the answer even without color. */
function Reasoning({ text, theme }: { text: string; theme: Theme }) {
  return (
    <Box borderStyle={GUTTER} borderTop={false} borderBottom={false} borderRight={false} borderDimColor={theme.color} paddingLeft={1}>
      <Text>{theme.dim(displaySafe(text.trim()))}</Text>
    </Box>
  );
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w !== '').length;
}
