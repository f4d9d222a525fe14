// The chat's pure parts: Markdown rendering, slash command parsing and completion, the input
// editing reducer, the persistent input history, and NO_COLOR detection.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HISTORY_LIMIT, InputHistory, historyFile } from '../../src/chat/history.js';
import { initialInput, inputReducer, type InputAction, type InputState } from '../../src/chat/inputReducer.js';
import { renderMarkdown } from '../../src/chat/markdown.js';
import { completeSlash, isSlashCommand, messageText, parseSlashCommand } from '../../src/chat/slashCommands.js';
import { displaySafe } from '../../src/chat/terminalText.js';
import { noColorRequested, themeFor } from '../../src/chat/theme.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-chat-units-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const color = themeFor({ color: true });
const plain = themeFor({ color: false });

describe('markdown', () => {
  it('styles emphasis, code, headings, lists, quotes and links', () => {
    const out = renderMarkdown('# Title\nSome **bold**, *it*, `x*y*z` and [site](https://e.x).\n- one\n  2. two\n> said\n---', color);
    expect(out).toContain('\x1b[1mbold\x1b[22m');
    expect(out).toContain('\x1b[3mit\x1b[23m');
    // Code spans are literal: no emphasis inside.
    expect(out).toContain('\x1b[36mx*y*z\x1b[39m');
    expect(out).toContain('\x1b[4msite\x1b[24m\x1b[2m (https://e.x)\x1b[22m');
    expect(out).toContain('\x1b[4m\x1b[1m\x1b[35mTitle');
    expect(out).toContain('\x1b[34m•\x1b[39m one');
    expect(out).toContain('  \x1b[34m2.\x1b[39m two');
    expect(out).toContain('\x1b[2m│ \x1b[22m\x1b[3msaid\x1b[23m');
    expect(out).toContain('─'.repeat(40));
  });

  it('code blocks get a gutter, keep their text literal, and may still be open while streaming', () => {
    const out = renderMarkdown('```python\nx = a * b * c  # **not bold**\n', plain);
    expect(out).toBe('  ┌ python\n  │ x = a * b * c  # **not bold**\n  │ ');
    expect(renderMarkdown('```\na\n```\nafter', plain)).toBe('  ┌\n  │ a\nafter');
  });

  it('leaves words with underscores and arithmetic alone', () => {
    expect(renderMarkdown('snake_case_name and 2*3*4', color)).toBe('snake_case_name and 2*3*4');
  });

  it('without color the text stays as written, laid out the same', () => {
    expect(renderMarkdown('## Head\n**b** `c`\n* item', plain)).toBe('## Head\n**b** `c`\n• item');
  });

  it('terminal text: control characters are neutralised, tabs become spaces', () => {
    expect(displaySafe('a\x1b[2Jb\tc\r\nd\x07')).toBe('a\uFFFD[2Jb    c\nd\uFFFD');
  });
});

describe('NO_COLOR', () => {
  it('counts when set and not empty', () => {
    expect(noColorRequested({ NO_COLOR: '1' })).toBe(true);
    expect(noColorRequested({ NO_COLOR: '' })).toBe(false);
    expect(noColorRequested({})).toBe(false);
    expect(themeFor({ color: false }).bold('x')).toBe('x');
  });
});

describe('slash commands', () => {
  it('parses commands, unique prefixes and arguments; rejects what does not fit', () => {
    expect(parseSlashCommand('/save  my file.json ')).toMatchObject({ ok: true, command: { name: 'save' }, arg: 'my file.json' });
    expect(parseSlashCommand('/think off')).toMatchObject({ ok: true, command: { name: 'think' }, arg: 'off' });
    expect(parseSlashCommand('/st')).toMatchObject({ ok: true, command: { name: 'stats' } });
    expect(parseSlashCommand('/system You are\nterse.')).toMatchObject({ ok: true, arg: 'You are\nterse.' });
    expect(parseSlashCommand('/s')).toEqual({ ok: false, error: 'unknown command /s (try /help)' });
    expect(parseSlashCommand('/think maybe')).toEqual({ ok: false, error: 'usage: /think on|off' });
    expect(parseSlashCommand('/save')).toEqual({ ok: false, error: 'usage: /save FILE' });
    expect(parseSlashCommand('/clear now')).toEqual({ ok: false, error: '/clear takes no argument' });
  });

  it('"//" sends a message that starts with a slash', () => {
    expect(isSlashCommand('/help')).toBe(true);
    expect(isSlashCommand('//etc/passwd is a file')).toBe(false);
    expect(messageText('//etc')).toBe('/etc');
    expect(messageText('plain')).toBe('plain');
  });

  it('completes names and fixed values', () => {
    expect(completeSlash('/he')).toEqual({ text: '/help', candidates: ['help'] });
    expect(completeSlash('/sa')).toEqual({ text: '/save ', candidates: ['save'] });
    expect(completeSlash('/s')).toEqual({ text: '/s', candidates: ['system', 'save', 'stats'] });
    expect(completeSlash('/think ')).toEqual({ text: '/think o', candidates: ['on', 'off'] });
    expect(completeSlash('/think of')).toEqual({ text: '/think off', candidates: ['off'] });
    expect(completeSlash('hello')).toBeUndefined();
  });
});

describe('input reducer', () => {
  const run = (s: InputState, ...actions: InputAction[]) => actions.reduce(inputReducer, s);
  const type = (text: string): InputAction => ({ type: 'insert', text });

  it('edits at the cursor, across lines, and never splits a surrogate pair', () => {
    let s = run(initialInput(), type('ab'), { type: 'left' }, type('X'));
    expect(s).toMatchObject({ text: 'aXb', cursor: 2 });
    s = run(initialInput(), type('héllo 😀'), { type: 'backspace' });
    expect(s.text).toBe('héllo ');
    s = run(initialInput(), type('one\ntwo three'), { type: 'killWord' });
    expect(s.text).toBe('one\ntwo ');
    s = run(initialInput(), type('first line\nsecond'), { type: 'up' });
    expect(s.cursor).toBe(6);
    s = run(s, { type: 'lineEnd' }, { type: 'down' }, { type: 'killBefore' });
    expect(s.text).toBe('first line\n');
    expect(run(initialInput(), type('a\r\nb\rc')).text).toBe('a\nb\nc');
  });

  it('walks the history on the first and last line and keeps the draft', () => {
    let s = run(initialInput(['old', 'new']), type('draft'));
    s = run(s, { type: 'up' });
    expect(s.text).toBe('new');
    s = run(s, { type: 'up' }, { type: 'up' });
    expect(s.text).toBe('old');
    s = run(s, { type: 'down' }, { type: 'down' });
    expect(s.text).toBe('draft');
    s = run(s, { type: 'submitted', entry: 'draft' });
    expect(s).toMatchObject({ text: '', history: ['old', 'new', 'draft'] });
    expect(run(s, { type: 'submitted', entry: 'draft' }).history).toHaveLength(3);
  });
});

describe('input history file', () => {
  it('persists entries (multi-line too) privately, and trims past the limit', () => {
    const file = path.join(tmp, 'state', 'petrel', 'chat_history');
    const a = new InputHistory(file);
    a.add('first');
    a.add('two\nlines');
    a.add('two\nlines');
    expect(new InputHistory(file).entries).toEqual(['first', 'two\nlines']);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    writeFileSync(file, Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => JSON.stringify(`e${i}`)).join('\n') + '\n{broken\n');
    const b = new InputHistory(file);
    expect(b.entries).toHaveLength(HISTORY_LIMIT);
    expect(b.entries.at(-1)).toBe(`e${HISTORY_LIMIT + 4}`);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(HISTORY_LIMIT);
  });

  it('lives in the XDG state directory unless PETREL_CHAT_HISTORY says otherwise', () => {
    expect(historyFile({ XDG_STATE_HOME: '/s' })).toBe('/s/petrel/chat_history');
    expect(historyFile({ PETREL_CHAT_HISTORY: '/h/file' })).toBe('/h/file');
    expect(historyFile({})).toBe(path.join(os.homedir(), '.local', 'state', 'petrel', 'chat_history'));
  });

  it('--no-history keeps entries in memory only', () => {
    const h = new InputHistory(undefined);
    h.add('x');
    expect(h.entries).toEqual(['x']);
  });
});
