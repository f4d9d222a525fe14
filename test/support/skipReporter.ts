// Lists every skipped test with its reason at the end of a run, and with CI=true fails the run
// when a test was skipped for a reason test/expected-skips.json does not allow (or for no reason:
// it.skip / describe.skipIf give none). A test CI expects to run that quietly stops running is a
// failure, not a smaller pass count.
// With a name filter (-t) the tests it leaves out are skipped for no reason: such a run is not
// checked, and lists only the skips that give a reason.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

export interface ExpectedSkip {
  /** The test file, relative to the repository root. */
  file: string;
  /** The skip reason exactly as the test gives it (ctx.skip(reason)). */
  reason: string;
  /** Why CI may skip it. */
  why: string;
}

export interface SkippedTest {
  file: string;
  name: string;
  reason: string | undefined;
}

export const EXPECTED_SKIPS_FILE = 'test/expected-skips.json';

export function readExpectedSkips(file: string): ExpectedSkip[] {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { skips?: unknown };
  if (!Array.isArray(parsed.skips)) throw new Error(`${file}: expected {"skips": [...]}`);
  return parsed.skips.map((e: Record<string, unknown>, i) => {
    for (const key of ['file', 'reason', 'why'] as const) {
      if (typeof e?.[key] !== 'string' || e[key] === '') throw new Error(`${file}: skips[${i}].${key} must be a non-empty string`);
    }
    return { file: e.file as string, reason: e.reason as string, why: e.why as string };
  });
}

/** The skips no entry allows: no reason at all, or a file and reason not listed together. */
export function unexpectedSkips(skipped: SkippedTest[], allowed: ExpectedSkip[]): SkippedTest[] {
  return skipped.filter((t) => t.reason === undefined || !allowed.some((a) => a.file === t.file && a.reason === t.reason));
}

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export default class SkipReporter implements Reporter {
  private vitest!: Vitest;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const root = this.vitest.config.root;
    const filtered = Boolean(this.vitest.config.testNamePattern);
    const skipped: SkippedTest[] = [];
    for (const module of testModules) {
      const file = path.relative(root, module.moduleId).split(path.sep).join('/');
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state !== 'skipped' || (filtered && result.note === undefined)) continue;
        skipped.push({ file, name: test.fullName, reason: result.note });
      }
    }
    if (skipped.length === 0) return;

    const logger = this.vitest.logger;
    const enforce = isCi() && !filtered;
    let allowed: ExpectedSkip[] = [];
    try {
      allowed = readExpectedSkips(path.join(root, EXPECTED_SKIPS_FILE));
    } catch (err) {
      logger.error(`skipped tests: ${(err as Error).message}`);
      if (enforce) process.exitCode = 1;
    }
    const bad = new Set(unexpectedSkips(skipped, allowed));
    logger.log(`\nSkipped tests (${skipped.length}):`);
    for (const t of skipped) {
      const mark = bad.has(t) ? (enforce ? 'NOT ALLOWED IN CI' : 'not in expected-skips.json') : 'expected';
      logger.log(`  ${t.file} > ${t.name}\n      reason: ${t.reason ?? '(none given)'} [${mark}]`);
    }
    if (enforce && bad.size > 0) {
      logger.error(
        `\nCI: ${bad.size} test(s) skipped that CI expects to run. Make them run here, or, where this machine ` +
          `cannot run them, skip with ctx.skip(reason) and list file and reason in ${EXPECTED_SKIPS_FILE} with why.`,
      );
      process.exitCode = 1;
    }
  }
}
