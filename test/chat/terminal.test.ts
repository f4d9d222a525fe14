// `petrel chat` in a real pseudo-terminal (tmux): the Ink screen starts, a typed prompt is
// answered with the answer streaming in place and the status line, Ctrl-C stops it, /save writes
// the conversation, /exit leaves with 0; a new process /loads it and goes on; Ctrl-C at an empty
// prompt leaves with 130, and the input history is written. In narrow windows: the status line
// fits, wrapped reasoning keeps its gutter, Ctrl-T redraws finished turns, /commands echo as typed,
// Ctrl-D during an answer leaves with 0. Needs tmux (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot } from '../support/cli.js';
import { skipAllIfReason } from '../support/skip.js';
import { presetModel, tempDir } from '../engine/helpers/models.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const noTmux = hasTmux ? undefined : 'tmux is not installed (apt-get install -y tmux)';

const tmp = tempDir('petrel-chat-tty-');
const socket = `petrel-test-${process.pid}`;
let model: string;

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  if (!hasTmux) return;
  ensureBuilt();
  model = await presetModel('tiny');
});
afterAll(() => {
  if (hasTmux) tmux('kill-server');
  tmp.cleanup();
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Starts `petrel chat` in a detached tmux window (100×40 unless told); its exit status lands in a file. */
function start(name: string, args: string[], columns = 100): { pane: () => string; exitCode: () => string | undefined; keys: (...k: string[]) => void; text: (t: string) => void } {
  const exitFile = path.join(tmp.dir, `${name}.exit`);
  const command = [
    `cd ${quote(repoRoot)} &&`,
    // Ink draws only the final frame when it thinks it runs in CI (is-in-ci: CI, CONTINUOUS_INTEGRATION);
    // the user's terminal is what is tested here, so those are unset like NO_COLOR.
    `env -u NO_COLOR -u CI -u CONTINUOUS_INTEGRATION XDG_STATE_HOME=${quote(tmp.dir)} TERM=xterm-256color`,
    `${quote(process.execPath)} bin/petrel.js chat ${quote(model)} ${args.map(quote).join(' ')};`,
    `echo $? > ${quote(exitFile)}; sleep 600`,
  ].join(' ');
  const r = tmux('new-session', '-d', '-s', name, '-x', String(columns), '-y', '40', command);
  if (r.status !== 0) throw new Error(`tmux new-session failed: ${r.stderr}`);
  return {
    pane: () => tmux('capture-pane', '-p', '-t', name).stdout,
    exitCode: () => (existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : undefined),
    keys: (...k) => void tmux('send-keys', '-t', name, ...k),
    text: (t) => void tmux('send-keys', '-t', name, '-l', t),
  };
}

async function until<T>(get: () => T, ok: (v: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last value:\n${String(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Presses a key until the chat exits. The first frame is drawn just before Ink switches the
 * terminal to raw mode, so on a busy machine a key sent at once can reach the cooked terminal.
 */
async function pressUntilExit(t: ReturnType<typeof start>, key: string): Promise<string> {
  for (let i = 0; i < 20; i++) {
    t.keys(key);
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const code = t.exitCode();
      if (code !== undefined) return code;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`the chat did not exit on ${key}:\n${t.pane()}`);
}

/** Waits for the first frame, then a moment for raw mode (see pressUntilExit). */
async function ready(t: ReturnType<typeof start>): Promise<void> {
  // A narrow status line keeps only "/help" of its hint.
  await until(t.pane, (p) => /ctx 0\/4096 .*· \/help( · Ctrl-D quits)?$/m.test(p), 'the prompt');
  await new Promise((r) => setTimeout(r, 500));
}

describe('petrel chat in a terminal (tmux)', () => {
  skipAllIfReason(noTmux);
  it('streams an answer, Ctrl-C stops it, /exit leaves with 0', async () => {
    // Greedy, thinking on, no answer limit: the random model writes reasoning for minutes.
    const t = start('stream', ['--temp', '0', '-t', '1']);
    await ready(t);
    expect(t.pane()).toMatch(/petrel chat · tiny.* · context 4096 tokens/);
    t.text('hello there');
    await until(t.pane, (p) => p.includes('› hello there'), 'typed text');
    t.keys('Enter');
    await until(t.pane, (p) => p.includes('answering… (Ctrl-C stops)') && p.includes('┊ '), 'streaming reasoning');
    // The answer keeps growing in place.
    const early = t.pane();
    await until(t.pane, (p) => p !== early, 'more output');
    t.keys('C-c');
    const stopped = await until(t.pane, (p) => /⏹ stopped \(\d+ tokens\)/.test(p), 'the answer to stop');
    expect(stopped).toMatch(/tok\/s · ctx \d+\/4096/);
    expect(t.exitCode()).toBeUndefined();
    const saved = path.join(tmp.dir, 'conv.json');
    t.text(`/save ${saved}`);
    t.keys('Enter');
    // Long paths wrap at 100 columns: match on the unwrapped screen.
    const flat = () => t.pane().replace(/\n/g, '');
    await until(flat, (p) => /saved 1 turn \(\d+ tokens\)/.test(p), 'the save message');
    t.text('/exit');
    t.keys('Enter');
    expect(await until(t.exitCode, (c) => c !== undefined, 'exit')).toBe('0');
    const history = readFileSync(path.join(tmp.dir, 'petrel', 'chat_history'), 'utf8');
    expect(history).toBe(`"hello there"\n"/save ${saved}"\n"/exit"\n`);

    // A new process loads the conversation (its model state too: no re-prefill) and goes on.
    const r = start('resume', ['--temp', '0', '-t', '1']);
    await ready(r);
    r.text(`/load ${saved}`);
    r.keys('Enter');
    const rflat = () => r.pane().replace(/\n/g, '');
    await until(rflat, (p) => /loaded 1 turn \(\d+ tokens\)/.test(p), 'the load message');
    r.text('and then?');
    r.keys('Enter');
    await until(r.pane, (p) => p.includes('answering… (Ctrl-C stops)'), 'the second answer');
    r.keys('C-c');
    await until(r.pane, (p) => /⏹ stopped \(\d+ tokens\)/.test(p), 'the second answer to stop');
    r.text('/exit');
    r.keys('Enter');
    expect(await until(r.exitCode, (c) => c !== undefined, 'exit')).toBe('0');
  });

  it('80 columns: /commands echo as typed, the status line fits, Ctrl-T redraws finished turns', async () => {
    const t = start('narrow80', ['--temp', '0', '-t', '1', '-n', '200'], 80);
    await ready(t);
    t.text('/help');
    t.keys('Enter');
    await until(t.pane, (p) => p.includes('Commands (Tab completes)'), 'the help');
    const lines = () => t.pane().split('\n');
    expect(lines()).toContain('/help');
    expect(t.pane()).not.toContain('[2m');
    t.text('hello there');
    t.keys('Enter');
    await until(t.pane, (p) => p.includes('… cut at the answer limit (200 tokens, -n)') && p.includes('Ctrl-D quits'), 'the answer');
    // Speed, context and the hint on one line of at most 80 columns (it was 83 and wrapped).
    expect(lines().filter((l) => /^tiny\S* · [\d.]+ tok\/s · ctx \d+\/4096 · .*· \/help · Ctrl-D quits$/.test(l))).toHaveLength(1);
    expect(t.pane()).toContain('┊ ');
    t.keys('C-t');
    await until(t.pane, (p) => /▸ reasoning hidden \(\d+ words; Ctrl-T shows it\)/.test(p), 'the finished turn collapsed');
    expect(t.pane()).not.toContain('┊');
    // All 200 tokens went to reasoning: the turn's footer says no answer came (one row, nothing pushed off).
    expect(t.pane()).toContain('… cut at the answer limit (200 tokens, -n) while still reasoning: no answer');
    // Printed again on a cleared screen: once, not twice.
    expect(t.pane().match(/› hello there/g)).toHaveLength(1);
    t.keys('C-t');
    await until(t.pane, (p) => p.includes('┊ ') && !p.includes('reasoning hidden'), 'the finished turn expanded');
    expect(t.pane().match(/petrel chat · tiny/g)).toHaveLength(1);
    expect(await pressUntilExit(t, 'C-d')).toBe('0');
  });

  it('50 columns: wrapped reasoning rows keep the gutter; Ctrl-D during an answer stops it and leaves with 0', async () => {
    const t = start('narrow50', ['--temp', '0', '-t', '1'], 50);
    await ready(t);
    t.text('hello there');
    t.keys('Enter');
    // Greedy output from the synthetic model: this line is longer than 50 columns and wraps.
    await until(t.pane, (p) => p.includes('irhe ocean'), 'a wrapped reasoning line');
    expect(t.pane()).toMatch(/ctx \d+\/4096 .*Ctrl-C stops$/m);
    t.keys('C-d');
    expect(await until(t.exitCode, (c) => c !== undefined, 'exit')).toBe('0');
    const rows = t.pane().split('\n');
    const from = rows.indexOf('› hello there') + 1;
    const to = rows.findIndex((r) => /⏹ stopped \(\d+ tokens\)/.test(r));
    expect(to - from).toBeGreaterThan(8);
    for (const row of rows.slice(from, to)) expect(row).toMatch(/^┊/);
    expect(rows.some((r) => r.startsWith('┊ F�..k'))).toBe(true);
  });

  it('Ctrl-C at an empty prompt leaves with 130, Ctrl-D with 0', async () => {
    const a = start('ctrlc', ['-t', '1']);
    await ready(a);
    expect(await pressUntilExit(a, 'C-c')).toBe('130');
    const b = start('ctrld', ['-t', '1']);
    await ready(b);
    expect(await pressUntilExit(b, 'C-d')).toBe('0');
  });
});
