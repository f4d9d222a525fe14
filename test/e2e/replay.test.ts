// scripts/replay-new-user.mjs: a new user's first commands in a clean HOME (synthetic models, no
// network) with no stack trace anywhere and every error on one line.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, repoRoot } from '../support/cli.js';

describe('the new-user replay', () => {
  it('runs every command without a stack trace, each error on one line', () => {
    ensureBuilt();
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'replay-new-user.mjs')], { encoding: 'utf8', timeout: 170_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+ commands in [\d.]+ s: all good\n$/);
  }, 180_000);
});
