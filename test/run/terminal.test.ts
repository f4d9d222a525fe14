// `petrel run` in a real pseudo-terminal (tmux): with no prompt it opens the chat; while the
// reasoning is hidden a spinner on stderr counts its tokens and is gone when the run ends, which
// then says why no answer came; an alias that is not downloaded is offered for download (by the chat
// too, which run hands --pull to).
// Needs tmux (.ci/run installs it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../src/synth/index.js';
import { ensureBuilt, repoRoot } from '../support/cli.js';
import { skipAllIfReason } from '../support/skip.js';
import { type HfServer, startHfServer } from '../support/hfServer.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const noTmux = hasTmux ? undefined : 'tmux is not installed (apt-get install -y tmux)';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-run-tty-'));
const socket = `petrel-run-test-${process.pid}`;
const model = path.join(tmp, 'tiny.gguf');
let server: HfServer | undefined;

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

beforeAll(async () => {
  if (!hasTmux) return;
  ensureBuilt();
  await synthesize('tiny', model, { type: 'f32', seed: 11 });
  server = await startHfServer([
    { id: 'unsloth/Qwen3.5-0.8B-GGUF', commit: '1'.repeat(40), files: [{ path: 'Qwen3.5-0.8B-Q4_K_M.gguf', data: readFileSync(model) }] },
  ]);
});
afterAll(async () => {
  if (hasTmux) tmux('kill-server');
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts `petrel <args>` in a detached 100×40 tmux window; its exit status lands in a file. */
function start(name: string, args: string[], env: Record<string, string> = {}) {
  const exitFile = path.join(tmp, `${name}.exit`);
  const vars = Object.entries({ XDG_STATE_HOME: tmp, TERM: 'xterm-256color', ...env })
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(' ');
  const command = [
    `cd ${quote(repoRoot)} &&`,
    `env -u NO_COLOR -u CI -u CONTINUOUS_INTEGRATION ${vars}`,
    `${quote(process.execPath)} bin/petrel.js ${args.map(quote).join(' ')};`,
    `echo $? > ${quote(exitFile)}; sleep 600`,
  ].join(' ');
  const r = tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '40', command);
  if (r.status !== 0) throw new Error(`tmux new-session failed: ${r.stderr}`);
  return {
    pane: () => tmux('capture-pane', '-p', '-t', name).stdout,
    exitCode: () => (existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : undefined),
    keys: (...k: string[]) => void tmux('send-keys', '-t', name, ...k),
  };
}

async function until<T>(get: () => T, ok: (v: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last value:\n${String(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('petrel run in a terminal (tmux)', () => {
  skipAllIfReason(noTmux);
  it('with no prompt opens the chat', async () => {
    const t = start('chat', ['run', model, '--no-think', '-t', '1']);
    await until(t.pane, (p) => /petrel chat · tiny.* · context 4096 tokens/.test(p), 'the chat screen');
    // Ctrl-D quits; the first frame comes just before raw mode, so press until it takes.
    for (let i = 0; i < 20 && t.exitCode() === undefined; i++) {
      t.keys('C-d');
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(t.exitCode()).toBe('0');
  });

  it('no prompt on an alias not downloaded: run hands --pull to the chat; chat alone asks, then opens', async () => {
    const env = (home: string) => ({ HF_ENDPOINT: server!.url, HF_HOME: path.join(tmp, home), XDG_CACHE_HOME: path.join(tmp, home, 'xdg') });
    const quit = async (t: ReturnType<typeof start>) => {
      // As above: press Ctrl-D until raw mode takes it.
      for (let i = 0; i < 20 && t.exitCode() === undefined; i++) {
        t.keys('C-d');
        await new Promise((r) => setTimeout(r, 500));
      }
      return t.exitCode();
    };
    const screen = /petrel chat · Qwen3\.5-0\.8B-Q4_K_M · context 4096 tokens/;
    // --pull missing reaches the chat run opens: it downloads without a question.
    const handed = start('chat-pull', ['run', 'qwen3.5:0.8b', '--pull', 'missing', '--no-think', '-t', '1'], env('chat-pull'));
    await until(handed.pane, (p) => screen.test(p), 'the chat screen after the download');
    expect(handed.pane()).not.toContain('Download it now?');
    expect(await quit(handed)).toBe('0');
    // The chat asks on a terminal as run does; Enter (yes) downloads, then the question's stdin goes to Ink.
    const asked = start('chat-ask', ['chat', 'qwen3.5:0.8b', '--no-think', '-t', '1'], env('chat-ask'));
    await until(asked.pane, (p) => p.includes('qwen3.5:0.8b is not downloaded. Download it now? [Y/n]'), 'the question');
    asked.keys('Enter');
    await until(asked.pane, (p) => screen.test(p), 'the chat screen after the download');
    expect(await quit(asked)).toBe('0');
  });

  it('a spinner counts the hidden reasoning; at the end it is gone and one line says why no answer came', async () => {
    // Greedy on the random model: reasoning all the way to -n.
    const t = start('spin', ['run', model, 'hi', '--temp', '0', '-n', '3000', '-t', '1']);
    await until(t.pane, (p) => /thinking… \d+ tokens/.test(p), 'the spinner');
    const code = await until(t.exitCode, (c) => c !== undefined, 'the run to end');
    expect(code).toBe('0');
    const pane = t.pane();
    expect(pane).not.toContain('thinking…');
    expect(pane).toContain('petrel: -n 3000 ran out while the model was still reasoning: no answer; raise -n or use --no-think');
  });

  it('an alias that is not downloaded is offered; yes downloads it and answers, no is one line', async () => {
    const env = (home: string) => ({ HF_ENDPOINT: server!.url, HF_HOME: path.join(tmp, home), XDG_CACHE_HOME: path.join(tmp, home, 'xdg') });
    const no = start('ask-no', ['run', 'qwen3.5:0.8b', 'hi', '-n', '2'], env('no'));
    await until(no.pane, (p) => p.includes('qwen3.5:0.8b is not downloaded. Download it now? [Y/n]'), 'the question');
    no.keys('n', 'Enter');
    expect(await until(no.exitCode, (c) => c !== undefined, 'exit')).toBe('1');
    expect(no.pane()).toMatch(/^petrel: qwen3\.5:0\.8b is not downloaded \(petrel pull qwen3\.5:0\.8b downloads it\)$/m);

    // Ctrl-D at the question is a "no" too (readline rejects the question; that must not surface).
    const eof = start('ask-eof', ['run', 'qwen3.5:0.8b', 'hi', '-n', '2'], env('eof'));
    await until(eof.pane, (p) => p.includes('Download it now? [Y/n]'), 'the question');
    eof.keys('C-d');
    expect(await until(eof.exitCode, (c) => c !== undefined, 'exit')).toBe('1');
    expect(eof.pane()).toMatch(/^petrel: qwen3\.5:0\.8b is not downloaded \(petrel pull qwen3\.5:0\.8b downloads it\)$/m);
    expect(eof.pane()).not.toMatch(/internal error|AbortError|\n\s+at /);

    const yes = start('ask-yes', ['run', 'qwen3.5:0.8b', 'hi', '-n', '2', '--no-think', '--seed', '1'], env('yes'));
    await until(yes.pane, (p) => p.includes('Download it now? [Y/n]'), 'the question');
    yes.keys('Enter');
    expect(await until(yes.exitCode, (c) => c !== undefined, 'exit')).toBe('0');
    expect(yes.pane()).toMatch(/done Qwen3\.5-0\.8B-Q4_K_M\.gguf/);
    expect(existsSync(path.join(tmp, 'yes', 'hub', 'models--unsloth--Qwen3.5-0.8B-GGUF'))).toBe(true);
  });
});
