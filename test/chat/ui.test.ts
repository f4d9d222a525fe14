// The Ink chat screen against a scripted chat (ink-testing-library): streaming in place, finished
// turns kept above, the reasoning toggle, slash commands with completion, paste and multi-line
// input, the status line, Markdown, NO_COLOR, and what Ctrl-C / Ctrl-D do.
import { createElement as h } from 'react';
import { render, cleanup } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatApp } from '../../src/chat/components/ChatApp.js';
import { AnswerView } from '../../src/chat/components/AnswerView.js';
import { StatusLine } from '../../src/chat/components/StatusLine.js';
import { themeFor } from '../../src/chat/theme.js';
import { FakeChat } from './fakeChat.js';

afterEach(() => cleanup());

const color = themeFor({ color: true });
const plain = themeFor({ color: false });
// eslint-disable-next-line no-control-regex
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const KEY = { enter: '\r', tab: '\t', ctrlC: '\x03', ctrlD: '\x04', ctrlT: '\x14', ctrlJ: '\n', up: '\x1b[A', backspace: '\x7f' };

function setup(options: { theme?: typeof color; history?: string[] } = {}) {
  const chat = new FakeChat();
  const exits: number[] = [];
  const entries = [...(options.history ?? [])];
  const history = { entries, add: (e: string) => void entries.push(e) };
  const app = render(h(ChatApp, { chat, theme: options.theme ?? plain, history, banner: 'welcome', onExit: (c: number) => exits.push(c) }));
  const frame = () => strip(app.lastFrame() ?? '');
  /** Writes keys one event at a time, letting Ink and React catch up between them. */
  const type = async (...keys: string[]) => {
    for (const k of keys) {
      app.stdin.write(k);
      await tick();
    }
  };
  return { chat, app, exits, entries, frame, type };
}

const tick = (ms = 15) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick(10);
  }
}

describe('chat screen', () => {
  it('streams the answer in place, then keeps the turn above the prompt', async () => {
    const t = setup();
    t.chat.stepMs = 30;
    t.chat.answers.push({ events: [{ type: 'reasoning', text: 'let me think' }, ...'Hello there, friend'.split(' ').map((w) => ({ type: 'content' as const, text: w + ' ' }))] });
    await t.type(...'hi'.split(''), KEY.enter);
    await until(() => t.frame().includes('Hello'), 'the first words');
    expect(t.frame()).toContain('answering… (Ctrl-C stops)');
    expect(t.frame()).not.toContain('friend');
    await until(() => t.frame().includes('friend') && !t.frame().includes('answering'), 'the whole answer');
    const f = t.frame();
    expect(f.indexOf('welcome')).toBeLessThan(f.indexOf('› hi'));
    expect(f.indexOf('› hi')).toBeLessThan(f.indexOf('┊ let me think'));
    expect(f.indexOf('┊ let me think')).toBeLessThan(f.indexOf('Hello there, friend'));
    expect(t.chat.asked).toEqual(['hi']);
    expect(t.entries).toEqual(['hi']);
  });

  it('Ctrl-T collapses and expands the reasoning', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'reasoning', text: 'step one, step two' }], untilAborted: true });
    await t.type('q', KEY.enter);
    await until(() => t.frame().includes('┊ step one'), 'reasoning');
    await t.type(KEY.ctrlT);
    await until(() => t.frame().includes('reasoning hidden (4 words; Ctrl-T shows it)'), 'collapsed reasoning');
    expect(t.frame()).not.toContain('┊ step one');
    await t.type(KEY.ctrlT);
    await until(() => t.frame().includes('┊ step one'), 'expanded reasoning');
    await t.type(KEY.ctrlC);
    await until(() => t.frame().includes('⏹ stopped'), 'stop');
  });

  it('Ctrl-T also hides and shows the reasoning of finished turns, printing them again', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'reasoning', text: 'first thoughts' }, { type: 'content', text: 'answer one' }] });
    await t.type('q', KEY.enter);
    await until(() => t.frame().includes('answer one') && !t.frame().includes('answering'), 'the first answer');
    // What the terminal shows after the last redraw: the test renderer keeps every printed copy.
    const screen = () => t.frame().slice(t.frame().lastIndexOf('welcome'));
    expect(screen()).toContain('┊ first thoughts');
    await t.type(KEY.ctrlT);
    await until(() => screen().includes('reasoning hidden (2 words; Ctrl-T shows it)'), 'the finished turn collapsed');
    expect(screen()).not.toContain('┊ first thoughts');
    expect(screen()).toContain('answer one');
    expect(t.app.stdout.frames.join('')).toContain('\x1b[2J');
    await t.type(KEY.ctrlT);
    await until(() => screen().includes('┊ first thoughts'), 'the finished turn expanded');
    expect(screen()).not.toContain('reasoning hidden');
  });

  it('first Ctrl-C stops the answer, Ctrl-C at an empty prompt exits 130', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'content', text: 'counting' }], untilAborted: true });
    await t.type('go', KEY.enter);
    await until(() => t.frame().includes('counting'), 'streaming');
    await t.type(KEY.ctrlC);
    await until(() => t.frame().includes('⏹ stopped'), 'the stop footer');
    expect(t.exits).toEqual([]);
    // Ctrl-C with text clears it; with none, it quits.
    await t.type('x', 'y');
    await until(() => t.frame().includes('› xy'), 'typed text');
    await t.type(KEY.ctrlC);
    await until(() => !t.frame().includes('› xy'), 'cleared input');
    expect(t.exits).toEqual([]);
    await t.type(KEY.ctrlC);
    expect(t.exits).toEqual([130]);
  });

  it('a second Ctrl-C while the answer is stopping exits 130', async () => {
    const t = setup();
    t.chat.answers.push({ events: [], untilAborted: true });
    await t.type('go', KEY.enter);
    await until(() => t.frame().includes('answering'), 'answering');
    // Both arrive before the answer has wound down.
    t.app.stdin.write(KEY.ctrlC);
    t.app.stdin.write(KEY.ctrlC);
    await tick();
    expect(t.exits).toEqual([130]);
  });

  it('Ctrl-D at an empty prompt exits 0; /exit too', async () => {
    const a = setup();
    await a.type(KEY.ctrlD);
    expect(a.exits).toEqual([0]);
    const b = setup();
    await b.type(...'/exit'.split(''), KEY.enter);
    expect(b.exits).toEqual([0]);
  });

  it('Ctrl-D during an answer stops it, then exits 0; a second Ctrl-D does not wait', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'content', text: 'counting' }], untilAborted: true });
    await t.type('go', KEY.enter);
    await until(() => t.frame().includes('counting'), 'streaming');
    await t.type(KEY.ctrlD);
    await until(() => t.exits.length > 0, 'exit');
    expect(t.exits).toEqual([0]);
    // The stopped answer was drawn before the exit; after it the last frame may already be empty.
    expect(t.app.frames.map(strip).some((f) => f.includes('⏹ stopped'))).toBe(true);

    const u = setup();
    u.chat.answers.push({ events: [], untilAborted: true });
    u.chat.stepMs = 200;
    await u.type('go', KEY.enter);
    await until(() => u.frame().includes('answering'), 'answering');
    u.app.stdin.write(KEY.ctrlD);
    u.app.stdin.write(KEY.ctrlD);
    await tick();
    expect(u.exits).toEqual([0]);
  });

  it('slash commands: hints, Tab completion of names and values, and their output', async () => {
    const t = setup();
    await t.type('/');
    for (const name of ['/help', '/clear', '/system', '/think', '/save', '/load', '/stats', '/exit']) expect(t.frame()).toContain(name);
    await t.type('t', 'h', KEY.tab);
    await until(() => t.frame().includes('› /think '), 'completed name');
    await t.type('o', KEY.tab);
    await until(() => /on {2}off/.test(t.frame()), 'value candidates');
    await t.type('f', KEY.tab);
    await until(() => t.frame().includes('› /think off'), 'completed value');
    await t.type(KEY.enter);
    await until(() => t.frame().includes('thinking off from the next answer'), 'command output');
    expect(t.chat.thinking).toBe(false);
    await t.type(...'/bogus'.split(''), KEY.enter);
    await until(() => t.frame().includes('✗ unknown command /bogus (try /help)'), 'error');
    await t.type(...'/stats'.split(''), KEY.enter);
    await until(() => t.frame().includes('context: 0 of 1000 tokens'), 'stats');
    expect(t.chat.asked).toEqual([]);
  });

  it('echoes a /command dimmed, not as sanitised escape codes', async () => {
    const t = setup({ theme: color });
    await t.type(...'/help'.split(''), KEY.enter);
    await until(() => t.frame().includes('Commands (Tab completes)'), 'help output');
    const raw = t.app.lastFrame()!;
    expect(raw).toContain('\x1b[2m/help\x1b[22m');
    expect(raw).not.toContain('\uFFFD');
  });

  it('multi-line input: Ctrl-J, a trailing backslash and bracketed paste add lines; Enter sends', async () => {
    const t = setup();
    await t.type('a', KEY.ctrlJ, 'b', '\\', KEY.enter, 'c');
    await until(() => t.frame().includes('› a\n  b\n  c'), 'three lines');
    await t.type('\x1b[200~', 'pasted 1\rpasted 2\r', '\x1b[201~');
    await until(() => t.frame().includes('pasted 2'), 'paste');
    expect(t.chat.asked).toEqual([]);
    await t.type(KEY.enter);
    await until(() => t.chat.asked.length === 1, 'sent');
    expect(t.chat.asked[0]).toBe('a\nb\ncpasted 1\npasted 2');
  });

  it('Up recalls earlier input from the persistent history', async () => {
    const t = setup({ history: ['older', 'newest'] });
    await t.type(KEY.up);
    await until(() => t.frame().includes('› newest'), 'newest entry');
    await t.type(KEY.up);
    await until(() => t.frame().includes('› older'), 'older entry');
  });

  it('notices from the chat (context overflow) are shown as warnings', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'content', text: 'fine' }], notices: [{ level: 'warn', text: 'context full: dropped the oldest turn' }] });
    await t.type('x', KEY.enter);
    await until(() => t.frame().includes('! context full: dropped the oldest turn'), 'warning');
  });

  it('renders Markdown in answers, and no color at all with NO_COLOR', async () => {
    const answer = { events: [{ type: 'content' as const, text: 'Use **bold** and `code`:\n\n- item\n\n```js\nlet x = 1;\n```' }] };
    const c = setup({ theme: color });
    c.chat.answers.push(answer);
    await c.type('m', KEY.enter);
    await until(() => strip(c.app.lastFrame() ?? '').includes('let x = 1;') && !c.frame().includes('answering'), 'markdown');
    const raw = c.app.lastFrame()!;
    expect(raw).toContain('\x1b[1mbold\x1b[22m');
    expect(raw).toContain('\x1b[36mcode\x1b[39m');
    expect(strip(raw)).toContain('• item');
    expect(strip(raw)).toContain('  │ let x = 1;');

    const p = setup({ theme: plain });
    p.chat.answers.push(answer);
    await p.type('m', KEY.enter);
    await until(() => (p.app.lastFrame() ?? '').includes('let x = 1;') && !p.frame().includes('answering'), 'plain markdown');
    const all = p.app.frames.join('');
    // The only escape left is the input cursor's reverse video, which is not a color.
    // eslint-disable-next-line no-control-regex
    expect(all.replace(/\x1b\[(7|27)m/g, '')).not.toMatch(/\x1b\[/);
    expect(all).toContain('• item');
    expect(all).toContain('Use **bold** and `code`:');
  });

  it('model output cannot send escape sequences to the terminal', async () => {
    const t = setup();
    t.chat.answers.push({ events: [{ type: 'content', text: 'a\x1b]0;title\x07b\x1b[2Jc' }] });
    await t.type('x', KEY.enter);
    await until(() => t.frame().includes('c') && !t.frame().includes('answering'), 'answer');
    expect(t.app.lastFrame()).not.toContain('\x1b]0;');
    expect(t.app.lastFrame()).not.toContain('\x1b[2J');
  });
});

describe('status line and answer view', () => {
  const status = {
    modelName: 'm',
    contextUsed: 100,
    contextLength: 1000,
    contextRoom: 750,
    thinking: true,
    turns: 1,
    rssBytes: 300 * 1024 * 1024,
    lastTurn: { promptTokens: 5, prefillMs: 10, generatedTokens: 24, generateMs: 2000, finishReason: 'stop' as const },
    totals: { tokensPrefilled: 5, tokensDecoded: 24 },
  };

  it('shows speed, context used / total, memory and thinking', () => {
    const { lastFrame } = render(h(StatusLine, { status, theme: plain, busy: false, stopping: false, columns: 100 }));
    expect(lastFrame()).toBe('m · 12.0 tok/s · ctx 100/1000 · mem 300 MiB · think on · /help · Ctrl-D quits');
    const busy = render(h(StatusLine, { status, theme: color, busy: true, stopping: false, columns: 100 }));
    expect(busy.lastFrame()).not.toContain('\x1b[33m');
    expect(strip(busy.lastFrame()!)).toContain('answering… (Ctrl-C stops)');
  });

  it('turns yellow when the chat warns: at 90% of the room the conversation has (the context less the answer reserve)', () => {
    const at = (contextUsed: number) => render(h(StatusLine, { status: { ...status, contextUsed }, theme: color, busy: false, stopping: false, columns: 100 })).lastFrame()!;
    expect(at(674)).not.toContain('\x1b[33m');
    expect(at(675)).toContain('\x1b[33m');
    expect(strip(at(675))).toContain('ctx 675/1000');
  });

  it('fits the terminal width on one line, dropping the least useful parts first', () => {
    const long = { ...status, modelName: 'Qwen3.5-35B-A3B-Instruct-UD-Q4_K_XL', contextUsed: 12345, contextLength: 262144 };
    for (const columns of [100, 80, 60, 40]) {
      for (const [busy, stopping] of [[false, false], [true, false], [true, true]] as const) {
        const frame = render(h(StatusLine, { status: long, theme: plain, busy, stopping, columns })).lastFrame()!;
        expect(frame.split('\n'), `${columns} columns`).toHaveLength(1);
        expect(frame.length).toBeLessThanOrEqual(columns);
        expect(frame).toContain('ctx 12345/262144');
        expect(frame).toContain(stopping ? 'Ctrl-C quits' : busy ? 'Ctrl-C stops' : '/help');
      }
    }
    const at80 = render(h(StatusLine, { status: long, theme: plain, busy: true, stopping: false, columns: 80 })).lastFrame()!;
    expect(at80).toBe('Qwen3.5-35B-A3B-Instruct-UD-Q4_K… · 12.0 tok/s · ctx 12345/262144 · Ctrl-C stops');
  });

  it('every row of the reasoning has the gutter, wrapped rows too', () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const { lastFrame } = render(h(AnswerView, { reasoning: `${long}\nshort line`, content: 'done', showReasoning: true, theme: plain }));
    const rows = lastFrame()!.split('\n');
    const reasoningRows = rows.slice(0, rows.indexOf('done'));
    // 60 words do not fit in 100 columns: the first line wraps.
    expect(reasoningRows.length).toBeGreaterThanOrEqual(4);
    for (const row of reasoningRows) expect(row).toMatch(/^┊ \S/);
    expect(reasoningRows.map((r) => r.slice(2).trimEnd()).join(' ')).toBe(`${long} short line`);
  });

  it('collapsed reasoning is one line', () => {
    const { lastFrame } = render(h(AnswerView, { reasoning: 'a b c', content: 'done', showReasoning: false, theme: plain }));
    expect(lastFrame()!.trimEnd()).toBe('▸ reasoning hidden (3 words; Ctrl-T shows it)\ndone');
  });
});
