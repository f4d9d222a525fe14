// run's pure helpers: prompt assembly from argument and stdin, sampling defaults and flags.
import { describe, expect, it } from 'vitest';
import { combinePrompt } from '../../src/cli/promptInput.js';
import { QWEN35_SAMPLING, samplingFrom } from '../../src/cli/samplingOptions.js';
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
