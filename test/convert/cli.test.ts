// `petrel quantize <hf-folder> <out.gguf> <type>` as a user runs it: the summary, --dry-run listing
// the converted tensors, and a broken checkpoint as one line on stderr with exit code 1.
import { existsSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';
import { makeTempDir } from '../synth/helpers.js';
import { writeFixture } from './fixture.js';

const tmp = makeTempDir('petrel-convert-cli-');
afterAll(() => tmp.cleanup());

let dir: string;
beforeAll(() => {
  dir = path.join(tmp.dir, 'Qwen3.5-moe');
  writeFixture(dir, { moe: true, tied: true, mtp: false, template: 'jinja' }, 5);
});

describe('petrel quantize <hf-folder> (CLI)', () => {
  it('converts to f16 and prints the summary', { timeout: 120_000 }, () => {
    const out = path.join(tmp.dir, 'moe-f16.gguf');
    const r = runPetrel(['quantize', dir, out, 'F16', '--threads', '2']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${out} (F16)`);
    expect(r.stdout).toMatch(/tensors \d+: (f16|f32) \d+, (f16|f32) \d+/);
    expect(existsSync(out)).toBe(true);
  });

  it('--dry-run lists the GGUF tensors with their source and output types', { timeout: 60_000 }, () => {
    const r = runPetrel(['quantize', dir, path.join(tmp.dir, 'dry.gguf'), 'q4_k_m', '--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/blk\.0\.ffn_gate_exps\.weight +\[256, 256, 4\] bf16 -> q4_K/);
    expect(r.stdout).toMatch(/blk\.0\.ssm_a +\[8\] f32 -> f32/);
    expect(existsSync(path.join(tmp.dir, 'dry.gguf'))).toBe(false);
  });

  it('a truncated shard: one line, exit 1, no output', { timeout: 60_000 }, () => {
    truncateSync(path.join(dir, 'model-00002-of-00002.safetensors'), 100);
    const out = path.join(tmp.dir, 'broken.gguf');
    const r = runPetrel(['quantize', dir, out, 'q8_0']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/model-00002-of-00002\.safetensors: /);
    expect(existsSync(out)).toBe(false);
  });
});
