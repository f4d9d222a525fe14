// `petrel run` end to end on a tiny synthetic model, through the real launcher: stdout carries
// only the answer (or one JSON object), token ids agree with the tokenizer and template, and the
// exit codes are 0 / 1 / 130.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../src/synth/index.js';
import { QWEN35_CHAT_TEMPLATE, parseChatOutput, renderChat } from '../../src/templates/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { ensureBuilt, repoRoot, runPetrel } from '../support/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-run-'));
const model = path.join(tmp, 'tiny.gguf');
let tokenizer: Tokenizer;

beforeAll(async () => {
  ensureBuilt();
  await synthesize('tiny', model, { type: 'f32', seed: 11 });
  tokenizer = Tokenizer.fromGgufFile(model);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface RunJson {
  model: string;
  text: string;
  reasoning: string;
  toolCalls: unknown[];
  finishReason: string;
  endedInReasoning: boolean;
  seed: number;
  sampling: Record<string, number>;
  thinking: boolean;
  threads: number;
  maxTokens: number | null;
  prompt: string;
  promptTokens: number[];
  generatedTokens: number[];
  usage: { promptTokens: number; generatedTokens: number; contextLength: number };
  timings: Record<string, number | null>;
}

const STRETCH_WARNING = 'petrel: warning: -c/--ctx 16384 is beyond the 4,096 tokens this model was trained for; answers past that may degrade\n';

function runJson(args: string[], input = ''): RunJson {
  const r = runPetrel(['run', model, ...args, '--json'], { input });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  // Exactly one JSON object and a newline: nothing else on stdout.
  expect(r.stdout.endsWith('}\n')).toBe(true);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(r.stdout) as RunJson;
}

describe('petrel run', () => {
  it('echo "hi" | petrel run <tiny> --json', () => {
    const out = runJson(['-n', '24', '--seed', '7'], 'hi\n');
    const prompt = renderChat(QWEN35_CHAT_TEMPLATE, { messages: [{ role: 'user', content: 'hi' }], enableThinking: true });
    expect(out.prompt).toBe(prompt);
    expect(out.promptTokens).toEqual(tokenizer.encode(prompt, { parseSpecial: true }));
    expect(out.usage.promptTokens).toBe(out.promptTokens.length);
    expect(out.usage.generatedTokens).toBe(out.generatedTokens.length);
    expect(out.generatedTokens.length).toBeLessThanOrEqual(24);
    expect(out.finishReason).toBe(out.generatedTokens.length === 24 ? 'length' : 'stop');
    // text / reasoning / tool calls are the parse of the generated tokens (thinking prompt: starts in reasoning).
    const parsed = parseChatOutput(tokenizer.decode(out.generatedTokens), { startInReasoning: true });
    expect({ text: out.text, reasoning: out.reasoning, toolCalls: out.toolCalls }).toEqual({
      text: parsed.content,
      reasoning: parsed.reasoning,
      toolCalls: parsed.toolCalls,
    });
    for (const key of ['loadMs', 'prefillMs', 'generateMs']) expect(out.timings[key]).toBeGreaterThanOrEqual(0);
  });

  it('is reproducible with --seed, and stdout is exactly the answer', () => {
    const args = ['say something', '--no-think', '-n', '40', '--seed', '3'];
    const json = runJson(args);
    expect(json.prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    expect(runJson(args).generatedTokens).toEqual(json.generatedTokens);
    const plain = runPetrel(['run', model, ...args]);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toBe('');
    // (This seed produces no tool call, whose raw XML would also be printed.)
    expect(json.toolCalls).toEqual([]);
    expect(plain.stdout).toBe(json.text === '' ? '' : json.text + '\n');
  });

  it('reasoning is hidden unless --show-thinking, which sends it to stderr', () => {
    const args = ['why?', '-n', '30', '--seed', '5'];
    const json = runJson(args);
    expect(json.reasoning).not.toBe('');
    const hidden = runPetrel(['run', model, ...args]);
    // Only the note on an answer that never came (this seed is still reasoning when -n runs out).
    expect(json.text).toBe('');
    expect(json.endedInReasoning).toBe(true);
    expect(hidden.stderr).toBe('petrel: -n 30 ran out while the model was still reasoning: no answer; raise -n or use --no-think\n');
    expect(hidden.stdout).toBe(json.text === '' ? '' : json.text + '\n');
    const shown = runPetrel(['run', model, ...args, '--show-thinking']);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toBe(hidden.stdout);
    expect(shown.stderr).toContain(json.reasoning);
  });

  it('--system goes into the template; -f - and the argument are combined, stdin first', () => {
    const out = runJson(['Summarize.', '-f', '-', '--system', 'Be brief.', '-n', '1', '--seed', '1'], 'Some text.\n');
    expect(out.prompt.startsWith('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSome text.\n\nSummarize.<|im_end|>')).toBe(true);
  });

  it('--raw tokenizes the prompt as written and skips the template', () => {
    const text = '<|im_start|>user\nhello<|im_end|>\n';
    const out = runJson(['--raw', '-n', '5', '--seed', '2'], text);
    expect(out.prompt).toBe(text);
    expect(out.promptTokens).toEqual(tokenizer.encode(text, { parseSpecial: true }));
    expect(out.reasoning).toBe('');
    expect(out.text).toBe(tokenizer.decode(out.generatedTokens));
  });

  it('passes --tools to the template', () => {
    const file = path.join(tmp, 'tools.json');
    writeFileSync(file, JSON.stringify([{ type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }]));
    const out = runJson(['what time is it?', '--tools', file, '-n', '1', '--seed', '1']);
    expect(out.prompt).toContain('<tools>\n{"type": "function", "function": {"name": "get_time"');
  });

  it('errors: one line on stderr, nothing on stdout, exit 1', () => {
    for (const args of [
      ['run', path.join(tmp, 'missing.gguf'), 'hi'],
      ['run', model],
      ['run', model, 'hi', '--raw', '--system', 'x'],
      ['run', model, 'hi', '--ctx', '4'],
      ['run', tmp, 'hi'],
    ]) {
      const r = runPetrel(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^petrel: /);
    }
  });

  it('a prompt argument leaves stdin alone; -f FILE comes before the argument; unquoted words are one prompt', () => {
    const userPart = (prompt: string) => /<\|im_start\|>user\n([\s\S]*?)<\|im_end\|>/.exec(prompt)![1];
    // `while read q; do petrel run m "$q"; done < qs.txt`: the rest of the file must stay unread.
    expect(userPart(runJson(['hi', '-n', '1', '--seed', '1'], 'the rest of the file\n').prompt)).toBe('hi');
    expect(userPart(runJson(['why', 'is', 'the', 'sky', 'blue', '-n', '1', '--seed', '1']).prompt)).toBe('why is the sky blue');
    const file = path.join(tmp, 'question.txt');
    writeFileSync(file, 'From a file.\n');
    expect(userPart(runJson(['-f', file, 'And this.', '-n', '1', '--seed', '1'], 'not read\n').prompt)).toBe('From a file.\n\nAnd this.');
    expect(userPart(runJson(['-f', file, '-n', '1', '--seed', '1']).prompt)).toBe('From a file.');
  });

  it('a piped stdin that never closes does not hold up a run given its prompt', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), 'run', model, 'hi', '-n', '1', '--seed', '1'], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // stdin stays open (as `sleep 60 | petrel run m hi`): run must finish without reading it.
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    child.stdin.destroy();
    expect(code).toBe(0);
  });

  it('--json reports the seed and sampling used, and the seed reproduces a random-seed run', () => {
    const first = runJson(['hello', '-n', '12', '--no-think']);
    expect(Number.isSafeInteger(first.seed)).toBe(true);
    expect(first.sampling).toEqual({ temperature: 0.7, topK: 20, topP: 0.8, minP: 0, repeatPenalty: 1, presencePenalty: 1.5 });
    expect(first.thinking).toBe(false);
    expect(first.maxTokens).toBe(12);
    expect(first.threads).toBeGreaterThan(0);
    const again = runJson(['hello', '-n', '12', '--no-think', '--seed', String(first.seed)]);
    expect(again.generatedTokens).toEqual(first.generatedTokens);
    expect(runJson(['hi', '-n', '1', '--temp', '0.3', '--top-p', '0.5', '--seed', '9']).sampling).toMatchObject({ temperature: 0.3, topP: 0.5 });
  });

  it('bad values are refused in one line naming the flag typed, never an engine parameter', () => {
    for (const [args, flag] of [
      [['--top-p', '2'], '--top-p'],
      [['--min-p', '2'], '--min-p'],
      [['--repeat-penalty', '0'], '--repeat-penalty'],
      [['--seed', '99999999999999999999'], '--seed'],
      [['--seed', '-1'], '--seed'],
      [['-c', '100000000'], '-c/--ctx'],
      [['-n', '0'], '-n/--max-tokens'],
      [['-t', 'x'], '-t/--threads'],
    ] as Array<[string[], string]>) {
      const r = runPetrel(['run', model, 'hi', ...args]);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(flag);
      expect(r.stderr).not.toMatch(/minP|topP|repeatPenalty|seedSampler|sampling parameter|\n\s+at /);
    }
  });

  it('-t beyond the hardware threads is capped with a warning', () => {
    const r = runPetrel(['run', model, 'hi', '-t', '1000', '-n', '2', '--json', '--seed', '1']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^petrel: warning: -t\/--threads 1000 is more than the \d+ hardware threads here; using \d+\n$/);
    expect((JSON.parse(r.stdout) as RunJson).threads).toBeLessThanOrEqual(os.availableParallelism());
  });

  it('a full context is said on stderr; an answer that never came says why', () => {
    // --ignore-eos: the answer runs until the 48-token context is full.
    const full = runPetrel(['run', model, 'hi', '--no-think', '--ctx', '48', '--ignore-eos', '--seed', '1']);
    expect(full.status).toBe(0);
    expect(full.stdout).not.toBe('');
    expect(full.stderr).toBe('petrel: the context (48 tokens) is full: the answer was cut off; raise --ctx\n');
    const json = runJson(['hi', '--no-think', '--ctx', '48', '--ignore-eos', '--seed', '1']);
    expect(json.finishReason).toBe('context');
    // Reasoning that fills the context: nothing on stdout, the reason on stderr.
    const thinking = runPetrel(['run', model, 'hi', '--ctx', '40', '--ignore-eos', '--seed', '1']);
    const thinkingJson = runJson(['hi', '--ctx', '40', '--ignore-eos', '--seed', '1']);
    expect(thinkingJson.text).toBe('');
    expect(thinkingJson.endedInReasoning).toBe(true);
    expect(thinking.stdout).toBe('');
    expect(thinking.stderr).toBe('petrel: the context (40 tokens) filled up while the model was still reasoning: no answer; raise --ctx or use --no-think\n');
  });

  it('Ctrl-C stops generation and exits 130, still printing the JSON report', async () => {
    // --ignore-eos: the answer must still be streaming when the signal comes (a random model may
    // otherwise sample an end token within a second).
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin', 'petrel.js'), 'run', model, 'count', '--json', '--seed', '1', '--ctx', '16384', '--ignore-eos'],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Let it load and generate for a moment. The tiny model decodes ~2000 tokens/s on a 2-core machine, so it
    // filled a 4096-token context within these 3 s and exited 0; 16384 (4× its trained context, the most
    // run allows) takes it several seconds more.
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGINT');
    const code = await closed;
    expect(stderr).toBe(STRETCH_WARNING);
    expect(code).toBe(130);
    const out = JSON.parse(stdout) as RunJson;
    expect(out.finishReason).toBe('aborted');
  });

  it('Ctrl-C during the prefill of a long prompt exits 130 within a micro-batch, not after the prompt', async () => {
    // ~16000 tokens on stdin: the whole prefill takes ~5 s on the tiny model with 2 threads (8000 tokens took
    // ~2 s once prefill got faster, less than the wait below).
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), 'run', model, '--json', '--ctx', '16384', '-t', '2'], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    child.stdin.end('word '.repeat(5400));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise((r) => setTimeout(r, 2500));
    const signalled = performance.now();
    child.kill('SIGINT');
    const code = await closed;
    const exitMs = performance.now() - signalled;
    expect(stderr).toBe(STRETCH_WARNING);
    expect(code).toBe(130);
    const out = JSON.parse(stdout) as RunJson;
    console.log(`[run] ${out.usage.promptTokens}-token prompt: prefill stopped after ${out.timings.prefillMs} ms, exit ${exitMs.toFixed(0)} ms after SIGINT`);
    expect(out.usage.promptTokens).toBeGreaterThan(7000);
    expect(out.finishReason).toBe('aborted');
    expect(out.generatedTokens).toEqual([]);
    expect(out.timings.prefillMs).toBeGreaterThan(500); // the signal came during the prefill
    // At most the micro-batch in flight finishes (about a second here); the rest of the prompt would take many more.
    expect(exitMs).toBeLessThan(4000);
  });
});
