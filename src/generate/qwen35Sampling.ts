// Qwen3.5's recommended sampling, which differs between thinking and non-thinking use (model card:
// thinking temp 1.0 / top-p 0.95; instruct temp 0.7 / top-p 0.8; both top-k 20, min-p 0, presence
// penalty 1.5, repetition penalty 1.0), under what the user chose. Chat keeps the choices rather
// than the resolved options because /think switches the defaults between turns.
import type { SamplingOptions } from '../engine/index.js';

/** What the user chose (run's and chat's sampling flags, named as the flags are); unset fields take the defaults. */
export interface SamplingOverrides {
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

/** samplingFrom with the seed made explicit: a random one when none was given, so it can be reported. */
export function resolvedSamplingFrom(overrides: SamplingOverrides, thinking: boolean, random: () => number = Math.random): SamplingOptions & { seed: number } {
  const seed = overrides.seed ?? Math.floor(random() * Number.MAX_SAFE_INTEGER);
  return { ...samplingFrom(overrides, thinking), seed };
}

/** The engine's sampling options: the overrides given, Qwen3.5's defaults for the rest. */
export function samplingFrom(overrides: SamplingOverrides, thinking: boolean): SamplingOptions {
  const d = thinking ? QWEN35_SAMPLING.thinking : QWEN35_SAMPLING.instruct;
  return {
    temperature: overrides.temp ?? d.temperature,
    topK: overrides.topK ?? d.topK,
    topP: overrides.topP ?? d.topP,
    minP: overrides.minP ?? d.minP,
    repeatPenalty: overrides.repeatPenalty ?? d.repeatPenalty,
    presencePenalty: overrides.presencePenalty ?? d.presencePenalty,
    ...(overrides.seed !== undefined ? { seed: overrides.seed } : {}),
  };
}
