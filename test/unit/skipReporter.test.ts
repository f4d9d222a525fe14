// The skip check (test/support/skipReporter.ts): which skips test/expected-skips.json allows, that
// the list itself names real files, and, end to end, that a vitest run with CI=true fails on a skip
// it does not allow and passes on one it does.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { EXPECTED_SKIPS_FILE, readExpectedSkips, unexpectedSkips } from '../support/skipReporter.js';

describe('unexpectedSkips', () => {
  const allowed = [{ file: 'test/a.test.ts', reason: 'needs X', why: 'CI has no X' }];

  it('allows a skip only for the listed file and reason together', () => {
    const ok = { file: 'test/a.test.ts', name: 't1', reason: 'needs X' };
    const otherReason = { file: 'test/a.test.ts', name: 't2', reason: 'needs Y' };
    const otherFile = { file: 'test/b.test.ts', name: 't3', reason: 'needs X' };
    expect(unexpectedSkips([ok, otherReason, otherFile], allowed)).toEqual([otherReason, otherFile]);
  });

  it('never allows a skip without a reason', () => {
    const silent = { file: 'test/a.test.ts', name: 't', reason: undefined };
    expect(unexpectedSkips([silent], allowed)).toEqual([silent]);
  });
});

describe(EXPECTED_SKIPS_FILE, () => {
  it('is well formed and names test files that exist', () => {
    const entries = readExpectedSkips(path.join(repoRoot, EXPECTED_SKIPS_FILE));
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) expect(existsSync(path.join(repoRoot, e.file)), e.file).toBe(true);
  });
});

describe('a vitest run with the skip reporter', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-skip-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  mkdirSync(path.join(dir, 'test'));
  writeFileSync(
    path.join(dir, 'vitest.config.mjs'),
    `export default { test: { include: ['test/**/*.test.mjs'], reporters: [${JSON.stringify(path.join(repoRoot, 'test/support/skipReporter.ts'))}] } };\n`,
  );

  function run(testSource: string, allowed: object[], ci: boolean): { status: number | null; out: string } {
    writeFileSync(path.join(dir, 'test', 'planted.test.mjs'), testSource);
    writeFileSync(path.join(dir, EXPECTED_SKIPS_FILE), JSON.stringify({ skips: allowed }));
    // The outer run's VITEST_* variables would make the inner vitest think it is a worker.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'CI'));
    if (ci) env.CI = 'true';
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run'], { cwd: dir, env, encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  }

  const planted = [
    "import { it } from 'vitest';",
    "it('runs', () => {});",
    "it('cannot run here', (ctx) => { ctx.skip('needs a GPU'); });",
    '',
  ].join('\n');
  const gpu = { file: 'test/planted.test.mjs', reason: 'needs a GPU', why: 'no GPU in CI' };

  it('with CI=true fails on a skip the list does not allow, and says which and why', { timeout: 60_000 }, () => {
    const r = run(planted, [], true);
    expect(r.out).toMatch(/test\/planted\.test\.mjs > cannot run here\n\s+reason: needs a GPU \[NOT ALLOWED IN CI\]/);
    expect(r.status).toBe(1);
  });

  it('with CI=true passes when the list allows that file and reason', { timeout: 60_000 }, () => {
    const r = run(planted, [gpu], true);
    expect(r.out).toMatch(/reason: needs a GPU \[expected\]/);
    expect(r.status).toBe(0);
  });

  it('with CI=true fails on it.skip (no reason), even next to allowed skips', { timeout: 60_000 }, () => {
    const r = run(`${planted}it.skip('switched off', () => {});\n`, [gpu], true);
    expect(r.out).toMatch(/planted\.test\.mjs > switched off\n\s+reason: \(none given\) \[NOT ALLOWED IN CI\]/);
    expect(r.status).toBe(1);
  });

  it('without CI lists the skips but does not fail', { timeout: 60_000 }, () => {
    const r = run(planted, [], false);
    expect(r.out).toMatch(/reason: needs a GPU \[not in expected-skips\.json\]/);
    expect(r.status).toBe(0);
  });
});
