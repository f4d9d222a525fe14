// run's pure helpers: prompt assembly from argument and stdin, sampling defaults and flags, the
// notes on a cut-short answer, the thinking spinner, the context and thread checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkContextLength } from '../../src/generate/contextLength.js';
import type { GenerateOnceResult } from '../../src/generate/generateOnce.js';
import { combinePrompt, readPromptFile } from '../../src/cli/promptInput.js';
import { finishNote, OutputSink } from '../../src/cli/runOutput.js';
import { parseThreads } from '../../src/cli/flagParsers.js';
import { QWEN35_SAMPLING, resolvedSamplingFrom, samplingFrom } from '../../src/generate/qwen35Sampling.js';
import { buildProgram } from '../../src/cli/main.js';

describe('prompt input', () => {
  it('chat prompts: stdin first, then the argument, trimmed, blank line between', () => {
    expect(combinePrompt('Summarize.', 'Some text.\n', false)).toBe('Some text.\n\nSummarize.');
    expect(combinePrompt('hi', undefined, false)).toBe('hi');
    expect(combinePrompt(undefined, '  hi\n', false)).toBe('hi');
    expect(combinePrompt(undefined, '\n', false)).toBe('');
  });

  it('raw prompts are kept exactly', () => {
    expect(combinePrompt(' tail', 'head\n', true)).toBe('head\n tail');
    expect(combinePrompt(undefined, 'x\n', true)).toBe('x\n');
  });
});

describe('sampling', () => {
  it('defaults follow Qwen3.5 for thinking and non-thinking; flags override', () => {
    expect(samplingFrom({}, true)).toEqual(QWEN35_SAMPLING.thinking);
    expect(samplingFrom({}, false)).toEqual(QWEN35_SAMPLING.instruct);
    expect(samplingFrom({ temp: 0, topK: 1, seed: 9 }, true)).toMatchObject({ temperature: 0, topK: 1, seed: 9, topP: 0.95 });
  });

  it('run parses its flags', async () => {
    const program = buildProgram();
    const run = program.commands.find((c) => c.name() === 'run')!;
    run.action(() => {});
    await program.parseAsync(['node', 'petrel', 'run', 'm.gguf', 'hi', '--temp', '0.2', '--top-k', '5', '-n', '7', '--no-think', '--seed', '4']);
    expect(run.opts()).toMatchObject({ temp: 0.2, topK: 5, maxTokens: 7, think: false, seed: 4 });
    const quiet = buildProgram().configureOutput({ writeErr: () => {} });
    quiet.commands.forEach((c) => c.configureOutput({ writeErr: () => {} }));
    expect(() => quiet.parse(['node', 'petrel', 'run', 'm', '--top-k', '1.5'])).toThrow(/--top-k must be a whole number/);
  });
});

describe('prompt files', () => {
  it('-f FILE reads the file, -f - reads stdin, a missing file is one clear error', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-prompt-'));
    try {
      writeFileSync(path.join(dir, 'q.txt'), 'question\n');
      expect(await readPromptFile(path.join(dir, 'q.txt'))).toBe('question\n');
      expect(await readPromptFile('-', Readable.from([Buffer.from('from stdin')]) as unknown as NodeJS.ReadStream)).toBe('from stdin');
      await expect(readPromptFile(path.join(dir, 'nope.txt'))).rejects.toThrow(/^--file .*nope\.txt: no such file$/);
      await expect(readPromptFile(dir)).rejects.toThrow(/is a directory$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checks on run flags', () => {
  it('a random seed is chosen up front so --json can report it', () => {
    expect(resolvedSamplingFrom({}, true, () => 0.5).seed).toBe(Math.floor(0.5 * Number.MAX_SAFE_INTEGER));
    expect(resolvedSamplingFrom({ seed: 3 }, true).seed).toBe(3);
  });

  it('-t is capped at the hardware threads, with a warning', () => {
    const warnings: string[] = [];
    const parse = parseThreads('-t/--threads', () => 2, (l) => warnings.push(l));
    expect(parse('2')).toBe(2);
    expect(warnings).toEqual([]);
    expect(parse('1000')).toBe(2);
    expect(warnings).toEqual(['petrel: warning: -t/--threads 1000 is more than the 2 hardware threads here; using 2']);
    expect(() => parse('0')).toThrow(/-t\/--threads must be a whole number > 0/);
  });

  it('-c: silent up to the trained context, a warning up to 4×, refused beyond', () => {
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    checkContextLength(4096, 4096, warn);
    expect(warnings).toEqual([]);
    checkContextLength(16384, 4096, warn);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^petrel: warning: -c\/--ctx 16384 is beyond the 4,096 tokens/);
    expect(() => checkContextLength(100000000, 4096, warn)).toThrow(/^-c\/--ctx 100000000 is far beyond the 4,096 tokens this model was trained for/);
  });

  it('usage errors are one line pointing at the subcommand\'s help; -v is --version', async () => {
    const lines: string[] = [];
    const program = buildProgram();
    for (const c of [program, ...program.commands]) c.configureOutput({ ...c.configureOutput(), writeErr: (s: string) => lines.push(s) });
    await expect(program.parseAsync(['node', 'petrel', 'run'])).rejects.toThrow();
    expect(lines.join('')).toBe('petrel run: missing required argument \'model\' (see "petrel run --help")\n');
    lines.length = 0;
    await expect(program.parseAsync(['node', 'petrel', 'show', 'm', '--bogus'])).rejects.toThrow();
    expect(lines.join('')).toBe('petrel show: unknown option \'--bogus\' (see "petrel show --help")\n');
  });
});

const result = (over: Partial<GenerateOnceResult>): GenerateOnceResult => ({
  prompt: '',
  promptTokens: [],
  generatedTokens: [1, 2, 3],
  text: '',
  reasoning: '',
  toolCalls: [],
  finishReason: 'stop',
  endedInReasoning: false,
  contextLength: 4096,
  timings: { loadMs: 0, prefillMs: 0, generateMs: 0 },
  ...over,
});

describe('notes on a cut-short answer', () => {
  it('says why no answer came, and when the context filled up', () => {
    expect(finishNote(result({ text: 'hi' }))).toBeUndefined();
    expect(finishNote(result({ text: 'hi', finishReason: 'length' }), 5)).toBeUndefined();
    expect(finishNote(result({ finishReason: 'aborted' }))).toBeUndefined();
    expect(finishNote(result({ finishReason: 'length', endedInReasoning: true }), 5)).toBe(
      '-n 5 ran out while the model was still reasoning: no answer; raise -n or use --no-think',
    );
    expect(finishNote(result({ endedInReasoning: true }))).toBe(
      'the model stopped inside its reasoning without answering (--show-thinking shows the reasoning)',
    );
    expect(finishNote(result({}))).toBe('the model gave an empty answer');
    expect(finishNote(result({ text: 'partial', finishReason: 'context' }))).toBe('the context (4,096 tokens) is full: the answer was cut off; raise --ctx');
    expect(finishNote(result({ finishReason: 'context', endedInReasoning: true }))).toMatch(/filled up while the model was still reasoning/);
    expect(finishNote(result({ toolCalls: [{ name: 'f', arguments: {} }] as GenerateOnceResult['toolCalls'] }))).toBeUndefined();
  });
});

describe('the thinking spinner', () => {
  function sink(tty: boolean, showThinking = false) {
    const out: string[] = [];
    const err: string[] = [];
    const s = new OutputSink(
      { json: false, showThinking },
      { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, stderrIsTTY: tty, color: true },
    );
    return { s, out, err };
  }

  it('on a terminal it counts the reasoning tokens on stderr and is gone when the answer starts', () => {
    const { s, out, err } = sink(true);
    s.start();
    expect(err.join('')).toContain('reading the prompt');
    for (let i = 0; i < 3; i++) {
      s.token();
      s.event({ type: 'reasoning', text: 'hmm ' });
    }
    s.start(); // redraws now, as the interval does
    expect(err.join('')).toContain('thinking… 3 tokens');
    s.event({ type: 'content', text: 'Answer.' });
    expect(err[err.length - 1]).toBe('\r\x1b[K');
    s.finish(result({ text: 'Answer.' }), () => ({}));
    expect(out.join('')).toBe('Answer.\n');
    expect(err.join('')).not.toContain('hmm');
  });

  it('off a terminal nothing but the note goes to stderr; --show-thinking dims the reasoning on a terminal', () => {
    const plain = sink(false);
    plain.s.start();
    plain.s.token();
    plain.s.event({ type: 'reasoning', text: 'hmm' });
    plain.s.finish(result({ finishReason: 'length', endedInReasoning: true }), () => ({}));
    expect(plain.err.join('')).toBe('petrel: -n 3 ran out while the model was still reasoning: no answer; raise -n or use --no-think\n');
    expect(plain.out).toEqual([]);
    const shown = sink(true, true);
    shown.s.start();
    shown.s.event({ type: 'reasoning', text: 'hmm' });
    expect(shown.err.join('')).toBe('\x1b[2mhmm\x1b[22m');
  });
});
