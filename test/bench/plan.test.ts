// Test order and names as llama-bench: threads, then depth, then pp, tg, pg; "pp512 @ d16384".
import { describe, expect, it } from 'vitest';
import { groupContextLength, planTests, testName } from '../../src/bench/testPlan.js';
import { randomTokens } from '../../src/bench/randomTokens.js';

describe('bench test plan', () => {
  it('orders tests as llama-bench and skips zero sizes', () => {
    const groups = planTests({ nPrompt: [0, 512], nGen: [128], pg: [[64, 8]], nDepth: [0, 1024], threads: [1, 2] });
    expect(groups.map((g) => [g.threads, g.depth, g.tests.map(testName)])).toEqual([
      [1, 0, ['pp512', 'tg128', 'pp64+tg8']],
      [1, 1024, ['pp512 @ d1024', 'tg128 @ d1024', 'pp64+tg8 @ d1024']],
      [2, 0, ['pp512', 'tg128', 'pp64+tg8']],
      [2, 1024, ['pp512 @ d1024', 'tg128 @ d1024', 'pp64+tg8 @ d1024']],
    ]);
    expect(groupContextLength(groups[1]!)).toBe(1024 + 512);
  });

  it('random token ids are in range and the same for the same stream', () => {
    const a = randomTokens(1000, 64, 1, 5);
    expect(Array.from(a).every((t) => t >= 0 && t < 1000)).toBe(true);
    expect(randomTokens(1000, 64, 1, 5)).toEqual(a);
    expect(randomTokens(1000, 64, 1, 6)).not.toEqual(a);
  });
});
