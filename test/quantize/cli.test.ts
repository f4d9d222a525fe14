// `petrel quantize` as a user runs it: summary, refusing to overwrite without --force, dry runs,
// JSON, bad arguments as one-line errors, cancellation leaving nothing behind; and the pure
// progress-line text (percent, rate, ETA).
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeGguf } from '../../src/quantize/index.js';
import { loadNative as quantizeAddon } from '../../src/native/index.js';
import { formatDuration, progressText } from '../../src/quantize/progress.js';
import { synthesize } from '../../src/synth/index.js';
import { runPetrel } from '../support/cli.js';
import { makeTempDir } from '../synth/helpers.js';

const tmp = makeTempDir('petrel-quantize-cli-');
afterAll(() => tmp.cleanup());

let src: string;
beforeAll(async () => {
  src = path.join(tmp.dir, 'tiny-f16.gguf');
  await synthesize('tiny', src, { type: 'f16', seed: 41 });
});

const leftovers = () => readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'));

describe('petrel quantize (CLI)', () => {
  it('refuses before writing when the disk is too small, and leaves an existing output alone', async () => {
    const out = path.join(tmp.dir, 'no-room.gguf');
    writeFileSync(out, 'keep me');
    await expect(
      quantizeAddon().quantizeGguf(src, out, { type: 'q4_k_m', force: true, assumeFreeBytes: 4096 }),
    ).rejects.toMatchObject({ code: 'ERR_DISK_FULL', message: expect.stringMatching(/not enough disk space: the output needs .* free/) });
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(leftovers()).toEqual([]);
  });

  it('writes the model and prints a summary', () => {
    const out = path.join(tmp.dir, 'q4.gguf');
    const r = runPetrel(['quantize', src, out, 'Q4_K_M', '--threads', '2']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${out} (Q4_K_M)`);
    expect(r.stdout).toMatch(/-> [\d.]+ MiB \([\d.]+ bpw\)/);
    expect(r.stdout).toMatch(/tensors \d+: q4_K \d+, f32 \d+, q6_K \d+/);
    expect(r.stdout).toMatch(/time +[\d.]+ s on 2 threads/);
    expect(statSync(out).size).toBeGreaterThan(0);
    expect(leftovers()).toEqual([]);
  });

  it('refuses to overwrite without --force, and replaces with it', () => {
    const out = path.join(tmp.dir, 'existing.gguf');
    writeFileSync(out, 'keep me');
    const r = runPetrel(['quantize', src, out, 'q8_0']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`petrel: ${out} exists; pass --force to overwrite it`);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    const f = runPetrel(['quantize', src, out, 'q8_0', '--force']);
    expect(f.status).toBe(0);
    expect(readFileSync(out).subarray(0, 4).toString()).toBe('GGUF');
    expect(leftovers()).toEqual([]);
  });

  it('--dry-run lists the types and writes nothing; --json gives the summary', () => {
    const out = path.join(tmp.dir, 'dry.gguf');
    const r = runPetrel(['quantize', src, out, 'q4_k_m', '--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/blk\.0\.attn_qkv\.weight +\[256, \d+\] f16 -> q6_K/);
    expect(r.stdout).toMatch(/output would be \d+ bytes/);
    expect(readdirSync(tmp.dir)).not.toContain('dry.gguf');
    const j = runPetrel(['quantize', src, out, 'q5_k_s', '--dry-run', '--json']);
    const summary = JSON.parse(j.stdout) as { type: string; typeCounts: Record<string, number>; outputFileBytes: number };
    expect(summary.type).toBe('q5_k_s');
    expect(summary.typeCounts.q5_K).toBeGreaterThan(0);
  });

  it('bad arguments are one-line errors', () => {
    const out = path.join(tmp.dir, 'bad.gguf');
    const t = runPetrel(['quantize', src, out, 'q7_x']);
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/^petrel: unknown quantization type "q7_x" \(one of: q4_0, .*q4_k_m.*\)\n$/);
    const m = runPetrel(['quantize', path.join(tmp.dir, 'missing.gguf'), out, 'q8_0']);
    expect(m.status).toBe(1);
    expect(m.stderr).toMatch(/missing\.gguf: no such file\n$/);
    const notGguf = path.join(tmp.dir, 'not.gguf');
    writeFileSync(notGguf, 'not a gguf file at all, just text');
    const c = runPetrel(['quantize', notGguf, out, 'q8_0']);
    expect(c.status).toBe(1);
    expect(c.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(readdirSync(tmp.dir)).not.toContain('bad.gguf');
    expect(leftovers()).toEqual([]);
  });
});

describe('quantizeGguf (API)', () => {
  it('reports progress up to the total, and a progress callback that throws cancels cleanly', async () => {
    const out = path.join(tmp.dir, 'progress.gguf');
    const seen: number[] = [];
    const s = await quantizeGguf({ input: src, output: out, type: 'iq4_nl', threads: 2, onProgress: (p) => seen.push(p.doneBytes / p.totalBytes) });
    expect(seen.at(-1)).toBe(1);
    expect(s.bitsPerWeight).toBeGreaterThan(4);
    expect(s.typeCounts.iq4_nl).toBeGreaterThan(0);

    const cancelled = path.join(tmp.dir, 'cancelled.gguf');
    const stop = new Error('stop');
    await expect(
      quantizeGguf({ input: src, output: cancelled, type: 'iq4_xs', threads: 1, onProgress: () => { throw stop; } }),
    ).rejects.toBe(stop);
    expect(readdirSync(tmp.dir)).not.toContain('cancelled.gguf');
    expect(leftovers()).toEqual([]);
  });

  it('refuses to write over its own input even with force', async () => {
    await expect(quantizeGguf({ input: src, output: src, type: 'q8_0', force: true })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('progress line', () => {
  it('shows percent, tensor, rate and ETA', () => {
    const text = progressText({ doneBytes: 512 * 2 ** 20, totalBytes: 2048 * 2 ** 20, tensorIndex: 10, nTensors: 100 }, 8);
    expect(text).toBe('quantizing 25% (512 MiB / 2.00 GiB, tensor 11/100, 64.0 MiB/s, ETA 24s)');
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(NaN)).toBe('?');
  });
});
