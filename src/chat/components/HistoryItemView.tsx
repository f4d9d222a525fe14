// A finished item of the conversation as printed once above the prompt: the user's message,
// a /command as typed, an answer, or a notice (command output, warnings, errors).
import { Text } from 'ink';
import type { HistoryItem } from '../appState.js';
import { displaySafe } from '../terminalText.js';
import type { Theme } from '../theme.js';
import { AnswerView } from './AnswerView.js';

export function HistoryItemView({ item, theme, showReasoning }: { item: HistoryItem; theme: Theme; showReasoning: boolean }) {
  switch (item.kind) {
    case 'user':
      return <Text>{theme.user(`› ${displaySafe(item.text).replace(/\n/g, '\n  ')}`)}</Text>;
    case 'command':
      // Styled after sanitising: displaySafe would turn the style's own escapes into U+FFFD.
      return <Text>{theme.dim(displaySafe(item.text))}</Text>;
    case 'answer':
      return <AnswerView reasoning={item.reasoning} content={item.content} showReasoning={showReasoning} theme={theme} footer={item.footer} />;
    case 'notice': {
      const text = displaySafe(item.text);
      if (item.level === 'error') return <Text>{theme.error(`✗ ${text}`)}</Text>;
      if (item.level === 'warn') return <Text>{theme.warn(`! ${text}`)}</Text>;
      return <Text>{text}</Text>;
    }
  }
}
