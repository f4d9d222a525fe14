// The chat screen's state as a pure reducer: finished items (printed once, in Ink's <Static>),
// the answer streaming in place, and whether reasoning is shown. Input editing has its own
// reducer (inputReducer.ts).
import type { OutputEvent } from '../templates/index.js';

export type HistoryItem =
  | { id: number; kind: 'user'; text: string }
  /** A /command as typed, echoed dimmed above its output. */
  | { id: number; kind: 'command'; text: string }
  | { id: number; kind: 'answer'; reasoning: string; content: string; footer: string }
  | { id: number; kind: 'notice'; level: 'info' | 'warn' | 'error'; text: string };

export interface LiveAnswer {
  reasoning: string;
  content: string;
}

export interface AppState {
  items: HistoryItem[];
  /** The answer being generated. */
  live: LiveAnswer | undefined;
  /** Ctrl-C was pressed during this answer. */
  stopping: boolean;
  /** Applies to every answer: finished ones are printed again when it changes (ChatApp). */
  showReasoning: boolean;
  nextId: number;
}

export type AppAction =
  | { type: 'asked'; text: string }
  | { type: 'command'; text: string }
  | { type: 'output'; events: OutputEvent[] }
  | { type: 'notice'; level: 'info' | 'warn' | 'error'; text: string }
  | { type: 'answered'; footer: string }
  | { type: 'stopping' }
  | { type: 'toggleReasoning' };

export function initialApp(showReasoning = true): AppState {
  return { items: [], live: undefined, stopping: false, showReasoning, nextId: 1 };
}

export function appReducer(s: AppState, a: AppAction): AppState {
  switch (a.type) {
    case 'asked':
      return { ...push(s, { kind: 'user', text: a.text }), live: { reasoning: '', content: '' }, stopping: false };
    case 'output': {
      if (!s.live) return s;
      let { reasoning, content } = s.live;
      for (const e of a.events) {
        if (e.type === 'reasoning') reasoning += e.text;
        else content += e.type === 'content' ? e.text : e.raw;
      }
      return { ...s, live: { reasoning, content } };
    }
    case 'command':
      return push(s, { kind: 'command', text: a.text });
    case 'notice':
      return push(s, { kind: 'notice', level: a.level, text: a.text });
    case 'answered': {
      if (!s.live) return s;
      const done = push(s, { kind: 'answer', ...s.live, footer: a.footer });
      return { ...done, live: undefined, stopping: false };
    }
    case 'stopping':
      return { ...s, stopping: true };
    case 'toggleReasoning':
      return { ...s, showReasoning: !s.showReasoning };
  }
}

type NewItem = HistoryItem extends infer T ? (T extends HistoryItem ? Omit<T, 'id'> : never) : never;

function push(s: AppState, item: NewItem): AppState {
  return { ...s, items: [...s.items, { ...item, id: s.nextId } as HistoryItem], nextId: s.nextId + 1 };
}
