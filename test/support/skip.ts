// Skipping with a reason. A test that cannot run here must say why, so the run lists it with the
// reason and CI can tell an expected skip (test/expected-skips.json) from a test that silently
// stopped running (test/support/skipReporter.ts). vitest's it.skipIf / describe.skipIf carry no
// reason, so the tests use these instead.
import { beforeEach, type TestContext } from 'vitest';

type Skippable = Pick<TestContext, 'skip'>;

/** Skips the running test with `reason` when one is given; runs on when it is undefined. */
export function skipIfReason(ctx: Skippable, reason: string | undefined): void {
  // ctx.skip(undefined, note) would skip: only `false` means "do not skip" to vitest.
  if (reason !== undefined) ctx.skip(reason);
}

/**
 * Every test of the enclosing describe (or of the file, at top level) reports itself skipped
 * with `reason` when one is given. Its beforeAll hooks still run, so they must cope on their own.
 */
export function skipAllIfReason(reason: string | undefined): void {
  if (reason !== undefined) beforeEach((ctx) => ctx.skip(reason));
}

/** The reason the multi-GB and long-running checks give where PETREL_TEST_LARGE is not 1. */
export const LARGE_ONLY = 'multi-GB or long-running: runs only with PETREL_TEST_LARGE=1';

/** undefined with PETREL_TEST_LARGE=1, else LARGE_ONLY. */
export function unlessLarge(): string | undefined {
  return process.env.PETREL_TEST_LARGE === '1' ? undefined : LARGE_ONLY;
}
