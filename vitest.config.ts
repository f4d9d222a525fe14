import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Native builds and llama.cpp loads are memory-hungry; 2 workers fit the 2-core CI box.
    maxWorkers: 2,
    pool: 'forks',
    // skipReporter lists skipped tests with their reasons; with CI=true it fails the run on a skip
    // that test/expected-skips.json does not allow.
    reporters: ['default', './test/support/skipReporter.ts'],
  },
});
