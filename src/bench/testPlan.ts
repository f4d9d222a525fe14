// The tests a bench run performs, in llama-bench's order: for each thread count, for each depth,
// the pp tests, then the tg tests, then the pg tests. A test is named as llama-bench names it:
// "pp512", "tg128", "pp512+tg128", with " @ d<depth>" when the context is prefilled.
import type { BenchOptions } from './args.js';

export interface BenchTest {
  nPrompt: number;
  nGen: number;
  nDepth: number;
}

/** Tests that share a loaded model (thread count) and a prefilled context (depth). */
export interface TestGroup {
  threads: number;
  depth: number;
  tests: BenchTest[];
}

export function planTests(options: Pick<BenchOptions, 'nPrompt' | 'nGen' | 'pg' | 'nDepth' | 'threads'>): TestGroup[] {
  const groups: TestGroup[] = [];
  for (const threads of options.threads) {
    for (const depth of options.nDepth) {
      const tests: BenchTest[] = [
        ...options.nPrompt.filter((n) => n > 0).map((n) => ({ nPrompt: n, nGen: 0, nDepth: depth })),
        ...options.nGen.filter((n) => n > 0).map((n) => ({ nPrompt: 0, nGen: n, nDepth: depth })),
        ...options.pg.map(([p, g]) => ({ nPrompt: p, nGen: g, nDepth: depth })),
      ];
      if (tests.length > 0) groups.push({ threads, depth, tests });
    }
  }
  return groups;
}

export function testName(test: BenchTest): string {
  const base =
    test.nGen === 0 ? `pp${test.nPrompt}` : test.nPrompt === 0 ? `tg${test.nGen}` : `pp${test.nPrompt}+tg${test.nGen}`;
  return test.nDepth > 0 ? `${base} @ d${test.nDepth}` : base;
}

/** Tokens a group's sequence must hold: the depth plus its longest test. */
export function groupContextLength(group: TestGroup): number {
  return group.depth + Math.max(...group.tests.map((t) => t.nPrompt + t.nGen));
}
