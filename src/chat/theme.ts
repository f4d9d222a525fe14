// Terminal styles for the chat UI as plain functions over strings. NO_COLOR (https://no-color.org:
// set and not empty) turns every style into the identity, so nothing but text reaches the terminal.
// Components style text through a Theme rather than Ink's color props, so one switch covers all.

export interface Theme {
  readonly color: boolean;
  bold(text: string): string;
  italic(text: string): string;
  underline(text: string): string;
  dim(text: string): string;
  strike(text: string): string;
  /** Inline code and code blocks. */
  code(text: string): string;
  heading(text: string): string;
  /** The user's own messages. */
  user(text: string): string;
  warn(text: string): string;
  error(text: string): string;
  accent(text: string): string;
  /** The input cursor: reverse video, which is not a color, so it stays under NO_COLOR. */
  cursor(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => (text === '' ? '' : `\x1b[${open}m${text}\x1b[${close}m`);

const ANSI: Theme = {
  color: true,
  bold: sgr(1, 22),
  italic: sgr(3, 23),
  underline: sgr(4, 24),
  dim: sgr(2, 22),
  strike: sgr(9, 29),
  code: sgr(36, 39),
  heading: (t) => sgr(1, 22)(sgr(35, 39)(t)),
  user: sgr(32, 39),
  warn: sgr(33, 39),
  error: sgr(31, 39),
  accent: sgr(34, 39),
  cursor: sgr(7, 27),
};

const same = (text: string) => text;

const PLAIN: Theme = {
  color: false,
  bold: same,
  italic: same,
  underline: same,
  dim: same,
  strike: same,
  code: same,
  heading: same,
  user: same,
  warn: same,
  error: same,
  accent: same,
  cursor: sgr(7, 27),
};

/** NO_COLOR counts when it is set to anything but the empty string. */
export function noColorRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== '';
}

export function themeFor(options: { color: boolean }): Theme {
  return options.color ? ANSI : PLAIN;
}
