#!/usr/bin/env node
// Replays a new user's first hour with petrel in a clean HOME, with synthetic models
// and no network: help, version, synth, show, run in every way a prompt can come, scripts and
// pipes (a reader that closes early, as `| head`), bad input, a model that is not downloaded, a
// pull from a hub that refuses connections, quantize, list, rm, piped chat (--json too), a small
// bench. It fails if any output holds a stack trace, if a command that failed said so in more than
// one line, or if a step's own check (`check`, `within` seconds) fails.
//
//   node scripts/replay-new-user.mjs            # needs the build (npm ci); prints one line per command
//   node scripts/replay-new-user.mjs --verbose  # also every command's output
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'petrel.js');
const verbose = process.argv.includes('--verbose');
const home = mkdtempSync(path.join(os.tmpdir(), 'petrel-new-user-'));
const work = path.join(home, 'work');
mkdirSync(work);

// A clean HOME, every cache under it, and a hub that refuses connections: nothing leaves the machine.
const env = {
  PATH: process.env.PATH ?? '',
  HOME: home,
  XDG_CACHE_HOME: path.join(home, '.cache'),
  XDG_STATE_HOME: path.join(home, '.local', 'state'),
  XDG_CONFIG_HOME: path.join(home, '.config'),
  HF_HOME: path.join(home, '.cache', 'huggingface'),
  HF_ENDPOINT: 'http://127.0.0.1:9',
  NO_COLOR: '1',
  TERM: 'dumb',
};

/**
 * Runs `petrel ...args`. input: piped stdin (else an empty one); closeStdout: the reader goes
 * away before petrel writes (what `| head` does to a long output); extraEnv: added to the clean one.
 */
function petrel(args, { input = '', closeStdout = false, extraEnv = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: work, env: { ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {}); // petrel may exit without reading its stdin
    child.stdin.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$|node:internal|internal error|Error: .*\n\s+at |Unhandled|^\s*\^+\s*$/m;

/** `chat --json`: one JSON object per turn on stdout, nothing else there. */
const jsonTurns = (n) => (r) => {
  const lines = r.stdout.trimEnd().split('\n');
  if (lines.length !== n) return `${lines.length} lines on stdout, expected ${n} (one per turn)`;
  for (const line of lines) {
    try {
      if (typeof JSON.parse(line).text !== 'string') return `a turn without "text": ${line}`;
    } catch {
      return `not JSON: ${line}`;
    }
  }
  return undefined;
};

// What the user types; `expect` is the exit status that is right for it.
const model = 'tiny.gguf';
const steps = [
  { args: ['--help'], expect: 0 },
  { args: ['-v'], expect: 0 },
  { args: ['--version'], expect: 0 },
  { args: ['help', 'run'], expect: 0 },
  { args: ['run', '--help'], closeStdout: true, expect: 0, label: 'petrel run --help | head -3' },
  { args: ['chat', '--help'], closeStdout: true, expect: 0, label: 'petrel chat --help | head -3' },
  { args: ['help', 'run'], closeStdout: true, expect: 0, label: 'petrel help run | head -1' },
  { args: ['synth', 'tiny', model], expect: 0 },
  { args: ['synth', 'tiny', model], expect: 1, label: 'petrel synth tiny tiny.gguf (again, exists)' },
  { args: ['show', model], expect: 0 },
  { args: ['show', model, '--json'], expect: 0 },
  { args: ['show', model, '--template'], closeStdout: true, expect: 0, label: 'petrel show tiny.gguf --template | head' },
  { args: ['show', model, '--metadata'], expect: 0 },
  { args: ['run', model, 'Why is the sky blue?', '-n', '16'], expect: 0 },
  { args: ['run', model, 'why', 'is', 'the', 'sky', 'blue', '-n', '16', '--no-think'], expect: 0 },
  { args: ['run', model, '-n', '16'], input: 'a question on stdin\n', expect: 0, label: 'echo q | petrel run tiny.gguf -n 16' },
  { args: ['run', model, 'hi', '-n', '8'], input: 'the rest of questions.txt\n', expect: 0, label: 'while read q; do petrel run tiny.gguf "$q"; done < qs.txt' },
  { args: ['run', model, '-f', 'question.txt', '-n', '8', '--json'], expect: 0 },
  { args: ['run', model, '-f', '-', 'Summarize this.', '-n', '8', '--no-think'], input: 'notes\n', expect: 0, label: 'cat notes | petrel run tiny.gguf -f - "Summarize this."' },
  { args: ['run', model, 'hi', '--no-think', '--ignore-eos', '-n', '2000'], closeStdout: true, expect: 0, label: 'petrel run tiny.gguf hi --ignore-eos | head -1' },
  { args: ['run', model, 'hi', '--ctx', '64', '--no-think', '--ignore-eos'], expect: 0, label: 'petrel run tiny.gguf hi --ctx 64 (fills the context)' },
  { args: ['run', model, 'hi', '-n', '5'], expect: 0, label: 'petrel run tiny.gguf hi -n 5 (still reasoning)' },
  { args: ['run', model, 'hi', '-t', '1000', '-n', '4'], expect: 0 },
  { args: ['run', model, 'hi', '-c', '100000000'], expect: 1 },
  { args: ['run', model, 'hi', '--top-p', '2'], expect: 1 },
  { args: ['run', model, 'hi', '--min-p', '2'], expect: 1 },
  { args: ['run', model, 'hi', '--repeat-penalty', '0'], expect: 1 },
  { args: ['run', model, 'hi', '--seed', '99999999999999999999'], expect: 1 },
  { args: ['run', model, 'hi', '--temp', 'hot'], expect: 1 },
  { args: ['run', model, 'hi', '--frobnicate'], expect: 1 },
  { args: ['run', model], expect: 1, label: 'petrel run tiny.gguf (no prompt, not a terminal)' },
  { args: ['run', model, '-f', 'missing.txt'], expect: 1 },
  { args: ['run', 'missing.gguf', 'hi'], expect: 1 },
  { args: ['run', 'corrupt.gguf', 'hi'], expect: 1 },
  { args: ['run', 'qwen3.5:0.8b', 'hi'], expect: 1, label: 'petrel run qwen3.5:0.8b hi (not downloaded)' },
  { args: ['run', 'qwen3.5:0.8b', 'hi', '--pull', 'never'], expect: 1 },
  { args: ['run', 'qwen3.5:0.8b', 'hi', '--pull', 'sometimes'], expect: 1 },
  { args: ['run'], expect: 1 },
  { args: ['frobnicate'], expect: 1 },
  { args: ['show', 'qwen3.5:0.8b'], expect: 1 },
  { args: ['list'], expect: 0 },
  { args: ['list', '--json'], expect: 0 },
  { args: ['rm', 'qwen3.5:0.8b'], expect: 1 },
  // A hub that refuses the connection fails at once, in one line: retrying cannot help.
  { args: ['pull', 'qwen3.5:0.8b'], extraEnv: { HF_ENDPOINT: 'http://127.0.0.1:1' }, expect: 1, within: 20, label: 'HF_ENDPOINT=http://127.0.0.1:1 petrel pull qwen3.5:0.8b' },
  { args: ['pull', 'qwen3.5:0.8b', '--json'], extraEnv: { HF_ENDPOINT: 'http://127.0.0.1:1' }, expect: 1, within: 20, label: 'HF_ENDPOINT=http://127.0.0.1:1 petrel pull qwen3.5:0.8b --json' },
  { args: ['quantize', model, 'out.gguf', 'q8_0', '--dry-run'], closeStdout: true, expect: 0, label: 'petrel quantize tiny.gguf out.gguf q8_0 --dry-run | head' },
  { args: ['quantize', model, 'tiny-q8_0.gguf', 'q8_0'], expect: 0 },
  { args: ['quantize', model, 'x.gguf', 'q9_9'], expect: 1 },
  { args: ['chat', model, '--no-think', '-n', '8', '--seed', '1'], input: 'hi\n/help\nand then?\n', expect: 0, label: 'printf "hi\\n/help\\nand then?\\n" | petrel chat tiny.gguf' },
  { args: ['chat', model, '--json', '--no-think', '-n', '8', '--seed', '1'], input: 'hi\n/stats\nand then?\n', expect: 0, check: jsonTurns(2), label: 'printf "hi\\n/stats\\nand then?\\n" | petrel chat tiny.gguf --json' },
  { args: ['chat', model, '-n', '4'], input: 'hi\n', expect: 0, label: 'echo hi | petrel chat tiny.gguf -n 4 (still reasoning)' },
  { args: ['chat', model, '-t', '1000', '-n', '4', '--no-think'], input: 'hi\n', expect: 0, label: 'echo hi | petrel chat tiny.gguf -t 1000' },
  { args: ['chat', model, '-c', '100000000'], input: 'hi\n', expect: 1, label: 'echo hi | petrel chat tiny.gguf -c 100000000' },
  { args: ['chat', 'qwen3.5:0.8b'], input: 'hi\n', expect: 1, label: 'echo hi | petrel chat qwen3.5:0.8b (not downloaded)' },
  { args: ['chat', 'qwen3.5:0.8b', '--pull', 'never'], input: 'hi\n', expect: 1, label: 'echo hi | petrel chat qwen3.5:0.8b --pull never' },
  { args: ['bench', 'tiny-q8_0.gguf', '-p', '16', '-n', '4', '-r', '1'], expect: 0 },
  { args: ['bench', model, '-t', 'lots'], expect: 1 },
];

writeFileSync(path.join(work, 'question.txt'), 'What is a petrel?\n');
writeFileSync(path.join(work, 'corrupt.gguf'), Buffer.from('GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff', 'latin1'));

const problems = [];
const started = performance.now();
try {
  for (const step of steps) {
    const label = step.label ?? `petrel ${step.args.join(' ')}`;
    const t0 = performance.now();
    const r = await petrel(step.args, step);
    const ms = performance.now() - t0;
    const why = [];
    if (r.code !== step.expect) why.push(`exit ${r.code ?? r.signal}, expected ${step.expect}`);
    if (STACK.test(r.stdout) || STACK.test(r.stderr)) why.push('a stack trace');
    if (r.code !== 0) {
      // A failure is one line: warnings may come before it, nothing after it.
      const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('petrel: warning:'));
      if (lines.length !== 1 || lines[0].trim() === '') why.push(`the error is ${lines.length} lines`);
    }
    if (step.within !== undefined && ms > step.within * 1000) why.push(`took ${(ms / 1000).toFixed(1)} s, more than ${step.within} s`);
    const checked = step.check?.(r);
    if (checked) why.push(checked);
    process.stdout.write(`${why.length ? 'FAIL' : 'ok  '} ${(ms / 1000).toFixed(1).padStart(5)} s  ${label}${why.length ? `: ${why.join(', ')}` : ''}\n`);
    if (verbose || why.length) {
      const indent = (s) => s.trimEnd().split('\n').slice(0, 40).map((l) => `        | ${l}`).join('\n');
      if (r.stdout.trim()) process.stdout.write(`      stdout:\n${indent(r.stdout)}\n`);
      if (r.stderr.trim()) process.stdout.write(`      stderr:\n${indent(r.stderr)}\n`);
    }
    if (why.length) problems.push(`${label}: ${why.join(', ')}`);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
process.stdout.write(`\n${steps.length} commands in ${((performance.now() - started) / 1000).toFixed(1)} s: ${problems.length ? `${problems.length} failed` : 'all good'}\n`);
process.exitCode = problems.length ? 1 : 0;
