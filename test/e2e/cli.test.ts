// The Foundation checks a user would do first: --version, synth + show, and clear errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'petrel-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('petrel CLI', () => {
  it('--version prints the version, CPU features and backends', () => {
    const r = runPetrel(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^petrel \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/cpu features: /);
    expect(r.stdout).toMatch(/backends compiled in: cpu/);
    expect(r.stderr).toBe('');
  });

  it('--help lists the commands', () => {
    const r = runPetrel(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('show');
    expect(r.stdout).toContain('synth');
  });

  it('synth tiny + show prints the architecture and layer pattern; --json is machine-readable', () => {
    const file = path.join(dir, 't.gguf');
    const synth = runPetrel(['synth', 'tiny', file]);
    expect(synth.status, synth.stderr).toBe(0);

    const show = runPetrel(['show', file]);
    expect(show.status, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/architecture\s+qwen35/);
    expect(show.stdout).toMatch(/layers\s+\d+: \d+ Gated DeltaNet \+ \d+ attention/);
    expect(show.stdout).toMatch(/chat template\s+yes/);

    const json = runPetrel(['show', file, '--json']);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.architecture).toBe('qwen35');
    expect(report.parameters).toBeGreaterThan(0);
    expect(report.layers.kinds).toMatch(/^[DA]+$/);
    expect(report.tokenizer.model).toBe('gpt2');
  });

  it('synth refuses to overwrite without --force', () => {
    const file = path.join(dir, 'exists.gguf');
    writeFileSync(file, 'keep me');
    const r = runPetrel(['synth', 'tiny', file]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('show on a missing or corrupt file is one line on stderr and exit 1', () => {
    const missing = runPetrel(['show', path.join(dir, 'nope.gguf')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^petrel: .*no such file\n$/);

    const bad = path.join(dir, 'bad.gguf');
    writeFileSync(bad, Buffer.from('GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff', 'latin1'));
    const corrupt = runPetrel(['show', bad]);
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr).toMatch(/^petrel: [^\n]+\n$/);
    expect(corrupt.stdout).toBe('');
  });

  it('an unknown command or option exits non-zero with a usage message', () => {
    const r = runPetrel(['frobnicate']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command/);
  });
});
