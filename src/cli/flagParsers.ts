// Sampling flags shared by run (and later chat), with Qwen3.5's recommended defaults, which differ
// between thinking and non-thinking use (model card: thinking temp 1.0 / top-p 0.95; instruct
// temp 0.7 / top-p 0.8; both top-k 20, min-p 0, presence penalty 1.5, repetition penalty 1.0).
import os from 'node:os';
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

// Every range is checked here, against the flag the user typed: the engine's own checks name its
// internal parameters (minP, repeatPenalty, seedSampler), which mean nothing on a command line.
export const parseNonNegative = (name: string) => number(name, (v) => v >= 0, 'a number >= 0');
export const parseCount = (name: string) => number(name, (v) => Number.isSafeInteger(v) && v >= 0, 'a whole number >= 0');
export const parsePositiveCount = (name: string) => number(name, (v) => Number.isSafeInteger(v) && v > 0, 'a whole number > 0');
export const parseFraction = (name: string) => number(name, (v) => v >= 0 && v <= 1, 'a number from 0 to 1');
export const parsePositive = (name: string) => number(name, (v) => v > 0, 'a number > 0');
export const parseSeed = (name: string) =>
  number(name, (v) => Number.isSafeInteger(v) && v >= 0, `a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`);

/** Hardware threads of this machine (what the engine starts by default). */
export function hardwareThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * -t/--threads: a whole number > 0, capped at the machine's hardware threads with a warning
 * (more compute threads than hardware threads only make every step wait for the slowest one,
 * which at hundreds of threads means no step finishes).
 */
export function parseThreads(name = '--threads', available: () => number = hardwareThreads, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')) {
  const whole = parsePositiveCount(name);
  return (value: string): number => {
    const n = whole(value);
    const max = available();
    if (n <= max) return n;
    warn(`petrel: warning: ${name} ${n} is more than the ${max} hardware threads here; using ${max}`);
    return max;
  };
}

export function addSamplingOptions(cmd: Command): Command {
  const t = QWEN35_SAMPLING.thinking;
  const i = QWEN35_SAMPLING.instruct;
  return cmd
    .option('--temp <t>', `temperature, 0 = greedy (default ${t.temperature} thinking, ${i.temperature} otherwise)`, parseNonNegative('--temp'))
    .option('--top-k <k>', `keep the k most likely tokens, 0 = all (default ${t.topK})`, parseCount('--top-k'))
    .option('--top-p <p>', `nucleus sampling, 0..1, 1 = off (default ${t.topP} thinking, ${i.topP} otherwise)`, parseFraction('--top-p'))
    .option('--min-p <p>', `drop tokens below p × the top probability, 0..1, 0 = off (default ${t.minP})`, parseFraction('--min-p'))
    .option('--repeat-penalty <x>', `penalise recent tokens, > 0, 1 = off (default ${t.repeatPenalty})`, parsePositive('--repeat-penalty'))
    .option('--presence-penalty <x>', `penalise tokens already present, 0 = off (default ${t.presencePenalty})`, number('--presence-penalty', () => true, 'a number'))
    .option('--seed <n>', 'random seed for reproducible sampling (default random; run --json reports the one used)', parseSeed('--seed'));
}

/** samplingFrom with the seed made explicit: a random one when none was given, so it can be reported. */
export function resolvedSamplingFrom(flags: SamplingFlags, thinking: boolean, random: () => number = Math.random): SamplingOptions & { seed: number } {
  const seed = flags.seed ?? Math.floor(random() * Number.MAX_SAFE_INTEGER);
  return { ...samplingFrom(flags, thinking), seed };
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
