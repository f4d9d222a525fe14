// Sampling flags shared by run (and later chat), with Qwen3.5's recommended defaults, which differ
// between thinking and non-thinking use (model card: thinking temp 1.0 / top-p 0.95; instruct
// temp 0.7 / top-p 0.8; both top-k 20, min-p 0, presence penalty 1.5, repetition penalty 1.0).
import { InvalidArgumentError, type Command } from 'commander';
import type { SamplingOptions } from '../engine/index.js';

export interface SamplingFlags {
  temp?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  seed?: number;
}

export const QWEN35_SAMPLING = {
  thinking: { temperature: 1.0, topK: 20, topP: 0.95, minP: 0, presencePenalty: 1.5, repeatPenalty: 1.0 },
  instruct: { temperature: 0.7, topK: 20, topP: 0.8, minP: 0, presencePenalty: 1.5, repeatPenalty: 1.0 },
} as const;

function number(name: string, check: (v: number) => boolean, rule: string) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || !check(v)) throw new InvalidArgumentError(`${name} must be ${rule}`);
    return v;
  };
}

export const parseNonNegative = (name: string) => number(name, (v) => v >= 0, 'a number >= 0');
export const parseCount = (name: string) => number(name, (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0');
export const parsePositiveCount = (name: string) => number(name, (v) => Number.isInteger(v) && v > 0, 'a whole number > 0');

export function addSamplingOptions(cmd: Command): Command {
  const t = QWEN35_SAMPLING.thinking;
  const i = QWEN35_SAMPLING.instruct;
  return cmd
    .option('--temp <t>', `temperature, 0 = greedy (default ${t.temperature} thinking, ${i.temperature} otherwise)`, parseNonNegative('--temp'))
    .option('--top-k <k>', `keep the k most likely tokens, 0 = all (default ${t.topK})`, parseCount('--top-k'))
    .option('--top-p <p>', `nucleus sampling, 1 = off (default ${t.topP} thinking, ${i.topP} otherwise)`, parseNonNegative('--top-p'))
    .option('--min-p <p>', `drop tokens below p × the top probability, 0 = off (default ${t.minP})`, parseNonNegative('--min-p'))
    .option('--repeat-penalty <x>', `penalise recent tokens, 1 = off (default ${t.repeatPenalty})`, parseNonNegative('--repeat-penalty'))
    .option('--presence-penalty <x>', `penalise tokens already present, 0 = off (default ${t.presencePenalty})`, number('--presence-penalty', () => true, 'a number'))
    .option('--seed <n>', 'random seed for reproducible sampling (default random)', parseCount('--seed'));
}

/** The engine's sampling options: the flags given, Qwen3.5's defaults for the rest. */
export function samplingFrom(flags: SamplingFlags, thinking: boolean): SamplingOptions {
  const d = thinking ? QWEN35_SAMPLING.thinking : QWEN35_SAMPLING.instruct;
  return {
    temperature: flags.temp ?? d.temperature,
    topK: flags.topK ?? d.topK,
    topP: flags.topP ?? d.topP,
    minP: flags.minP ?? d.minP,
    repeatPenalty: flags.repeatPenalty ?? d.repeatPenalty,
    presencePenalty: flags.presencePenalty ?? d.presencePenalty,
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
  };
}
