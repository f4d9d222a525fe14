// llama-bench's statistics: mean and sample (n - 1) standard deviation of per-run tokens/s.
import { describe, expect, it } from 'vitest';
import { mean, sampleStddev, tokensPerSecond } from '../../src/bench/stats.js';

describe('bench statistics', () => {
  it('mean', () => {
    expect(mean([])).toBe(0);
    expect(mean([3])).toBe(3);
    expect(mean([1, 2, 3, 4])).toBe(2.5);
  });

  it('sample standard deviation divides by n - 1, and is 0 below two samples', () => {
    expect(sampleStddev([])).toBe(0);
    expect(sampleStddev([42])).toBe(0);
    expect(sampleStddev([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(sampleStddev([5, 5, 5])).toBe(0);
  });

  it('tokens per second of each run: n_tokens / seconds (pp + tg tokens for pg)', () => {
    expect(tokensPerSecond(512, [1e9, 2e9])).toEqual([512, 256]);
    expect(tokensPerSecond(640, [0.5e9])).toEqual([1280]);
  });
});
