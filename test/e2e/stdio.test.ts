// A closed stdout (`petrel run --help | head -3`) ends petrel quietly, for every command: no
// Node EPIPE stack, exit 0. The reader closes its end before petrel writes anything, so every
// write fails, which is what `head` does to a long output.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../src/synth/index.js';
import { ensureBuilt, repoRoot } from '../support/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-stdio-'));
const model = path.join(tmp, 'tiny.gguf');

beforeAll(async () => {
  ensureBuilt();
  await synthesize('tiny', model, { type: 'q8_0', seed: 3, layers: 2 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a closed stdout', () => {
  const cases: string[][] = [
    ['--help'],
    ['run', '--help'],
    ['help', 'run'],
    ['chat', '--help'],
    ['quantize', '--help'],
    ['--version'],
    ['show', model],
    ['quantize', model, path.join(tmp, 'out.gguf'), 'q8_0', '--dry-run'],
    ['run', model, 'hi', '--no-think', '--ignore-eos', '-n', '400', '--seed', '1'],
  ];
  for (const args of cases) {
    it(`petrel ${args.map((a) => (a === model ? 'tiny.gguf' : path.basename(a))).join(' ')} ends quietly`, async () => {
      const r = await withClosedStdout(args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });
  }
});
