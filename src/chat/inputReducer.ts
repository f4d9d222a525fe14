// The prompt's editing state as a pure reducer (tested without Ink). The text may hold several
// lines; the cursor is an index into it (UTF-16 units, always on a code point boundary). Up/Down
// move between lines and, on the first/last line, walk the input history; the text being written
// is kept as a draft while browsing and comes back after the newest entry.

export interface InputState {
  text: string;
  cursor: number;
  /** Oldest first. */
  history: readonly string[];
  /** Index into history while browsing it; undefined while editing the draft. */
  browsing: number | undefined;
  draft: string;
}

export type InputAction =
  | { type: 'insert'; text: string }
  | { type: 'backspace' }
  | { type: 'deleteForward' }
  | { type: 'left' }
  | { type: 'right' }
  | { type: 'lineStart' }
  | { type: 'lineEnd' }
  | { type: 'up' }
  | { type: 'down' }
  | { type: 'killBefore' }
  | { type: 'killAfter' }
  | { type: 'killWord' }
  | { type: 'set'; text: string }
  /** The text was sent: it joins the history and the prompt empties. */
  | { type: 'submitted'; entry: string }
  | { type: 'clear' };

export function initialInput(history: readonly string[] = []): InputState {
  return { text: '', cursor: 0, history, browsing: undefined, draft: '' };
}

export function inputReducer(s: InputState, a: InputAction): InputState {
  switch (a.type) {
    case 'insert': {
      const text = a.text.replace(/\r\n?/g, '\n');
      return edit(s, s.text.slice(0, s.cursor) + text + s.text.slice(s.cursor), s.cursor + text.length);
    }
    case 'backspace': {
      if (s.cursor === 0) return s;
      const from = prevBoundary(s.text, s.cursor);
      return edit(s, s.text.slice(0, from) + s.text.slice(s.cursor), from);
    }
    case 'deleteForward': {
      if (s.cursor >= s.text.length) return s;
      return edit(s, s.text.slice(0, s.cursor) + s.text.slice(nextBoundary(s.text, s.cursor)), s.cursor);
    }
    case 'left':
      return { ...s, cursor: prevBoundary(s.text, s.cursor) };
    case 'right':
      return { ...s, cursor: nextBoundary(s.text, s.cursor) };
    case 'lineStart':
      return { ...s, cursor: lineStart(s.text, s.cursor) };
    case 'lineEnd':
      return { ...s, cursor: lineEnd(s.text, s.cursor) };
    case 'up': {
      const start = lineStart(s.text, s.cursor);
      if (start > 0) return { ...s, cursor: moveToLine(s.text, s.cursor, lineStart(s.text, start - 1)) };
      return browse(s, -1);
    }
    case 'down': {
      const end = lineEnd(s.text, s.cursor);
      if (end < s.text.length) return { ...s, cursor: moveToLine(s.text, s.cursor, end + 1) };
      return browse(s, +1);
    }
    case 'killBefore': {
      const start = lineStart(s.text, s.cursor);
      return edit(s, s.text.slice(0, start) + s.text.slice(s.cursor), start);
    }
    case 'killAfter': {
      const end = lineEnd(s.text, s.cursor);
      return edit(s, s.text.slice(0, s.cursor) + s.text.slice(end), s.cursor);
    }
    case 'killWord': {
      let from = s.cursor;
      while (from > 0 && /\s/.test(s.text[from - 1]!)) from--;
      while (from > 0 && !/\s/.test(s.text[from - 1]!)) from--;
      return edit(s, s.text.slice(0, from) + s.text.slice(s.cursor), from);
    }
    case 'set':
      return edit(s, a.text, a.text.length);
    case 'submitted': {
      const entry = a.entry;
      const history = entry.trim() === '' || s.history.at(-1) === entry ? s.history : [...s.history, entry];
      return { text: '', cursor: 0, history, browsing: undefined, draft: '' };
    }
    case 'clear':
      return { ...s, text: '', cursor: 0, browsing: undefined, draft: '' };
  }
}

/** An edit leaves history browsing: the edited entry becomes the draft. */
function edit(s: InputState, text: string, cursor: number): InputState {
  return { ...s, text, cursor, browsing: undefined };
}

function browse(s: InputState, step: -1 | 1): InputState {
  const n = s.history.length;
  if (n === 0) return s;
  const current = s.browsing ?? n;
  const next = Math.max(0, Math.min(n, current + step));
  if (next === current) return s;
  const draft = s.browsing === undefined ? s.text : s.draft;
  const text = next === n ? draft : s.history[next]!;
  return { ...s, text, cursor: text.length, browsing: next === n ? undefined : next, draft };
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf('\n', at - 1) + 1;
}

function lineEnd(text: string, at: number): number {
  const i = text.indexOf('\n', at);
  return i < 0 ? text.length : i;
}

/** Same column on the line starting at `start` (clamped to its end). */
function moveToLine(text: string, at: number, start: number): number {
  const column = at - lineStart(text, at);
  return Math.min(start + column, lineEnd(text, start));
}

function prevBoundary(text: string, at: number): number {
  if (at <= 0) return 0;
  const low = text.charCodeAt(at - 1);
  return at >= 2 && low >= 0xdc00 && low <= 0xdfff ? at - 2 : at - 1;
}

function nextBoundary(text: string, at: number): number {
  if (at >= text.length) return text.length;
  const high = text.charCodeAt(at);
  return high >= 0xd800 && high <= 0xdbff && at + 1 < text.length ? at + 2 : at + 1;
}
