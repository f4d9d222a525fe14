// Sampling options of session.generate() and their translation to the native sampler
// (native/engine/sampler.cpp applies them in C++ over the full vocabulary).
import type { NativeSamplingParams } from '../native/index.js';

/** The native sampler's parameters (defaults in NativeSamplingParams) and the random stream's seed. */
export interface SamplingOptions extends NativeSamplingParams {
  /** Seed of the random stream; the same seed, state and options give the same tokens. Random when omitted. */
  seed?: number | bigint;
}

export function toNativeSampling(options: SamplingOptions = {}): NativeSamplingParams {
  const { seed: _seed, ...params } = options;
  const out: NativeSamplingParams = {};
  for (const [key, value] of Object.entries(params) as [keyof NativeSamplingParams, number | undefined][]) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new RangeError(`sampling.${key} must be a finite number (got ${String(value)})`);
    }
    out[key] = value;
  }
  return out;
}

/** The seed to start the stream with: the caller's, or 53 random bits. */
export function resolveSeed(seed: number | bigint | undefined): number | bigint {
  if (seed !== undefined) return seed;
  return Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
}
