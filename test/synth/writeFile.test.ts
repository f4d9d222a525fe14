// What the native writer puts on disk for a synthetic model: identical bytes for the same preset
// and seed, different bytes for another seed, the planned tensors and keys read back through
// petrel's reader, and values with the intended statistics.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, type NativeGguf } from '../../src/native/index.js';
import { buildSynthModel, ensureSynthModel, synthesize } from '../../src/synth/index.js';
import { makeTempDir } from './helpers.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function stats(values: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    sq += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(sq / values.length - mean * mean), min, max };
}

function withGguf<T>(file: string, fn: (g: NativeGguf) => T): T {
  const g = loadNative().openGguf(file);
  try {
    return fn(g);
  } finally {
    g.close();
  }
}

function relRmse(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    err += (a[i]! - b[i]!) ** 2;
    ref += b[i]! ** 2;
  }
  return Math.sqrt(err / ref);
}

describe('synthetic GGUF files', () => {
  it('same preset and seed give identical bytes; another seed differs', async () => {
    for (const [preset, type] of [['tiny', 'f32'], ['tiny-moe', 'q8_0']] as const) {
      const a = path.join(tmp.dir, `${preset}-a.gguf`);
      const b = path.join(tmp.dir, `${preset}-b.gguf`);
      const c = path.join(tmp.dir, `${preset}-c.gguf`);
      await synthesize(preset, a, { type, seed: 1 });
      await synthesize(preset, b, { type, seed: 1 });
      await synthesize(preset, c, { type, seed: 2 });
      expect(sha256(a)).toBe(sha256(b));
      expect(sha256(a)).not.toBe(sha256(c));
    }
  });

  it('reads back with the planned metadata and tensors', async () => {
    for (const preset of ['tiny', 'tiny-moe', 'tiny-r3']) {
      const file = path.join(tmp.dir, `${preset}-read.gguf`);
      const result = await synthesize(preset, file, { type: 'q8_0', seed: 3 });
      const model = buildSynthModel(preset, { type: 'q8_0', seed: 3 });
      withGguf(file, (g) => {
        const tensors = g.tensors();
        expect(tensors.map((t) => [t.name, t.shape, t.type])).toEqual(model.tensors.map((t) => [t.name, t.shape, t.type]));
        const kv = new Map(g.metadata().map((k) => [k.key, k]));
        for (const want of model.spec.metadata) {
          const got = kv.get(want.key);
          expect(got?.type, want.key).toBe(want.type);
          if (want.type === 'f32') expect(got?.value as number).toBeCloseTo(want.value as number, 6);
          else if (want.type === 'arr') expect(got?.value, want.key).toEqual(want.value);
          else expect(got?.value, want.key).toBe(want.value);
        }
        expect(result.tensors).toBe(tensors.length);
        expect(result.params).toBe(tensors.reduce((s, t) => s + t.nElements, 0));
      });
    }
  });

  it('values follow the planned statistics (norms ≈ 1, ssm_a < 0, std ≈ 1/sqrt(fan_in))', async () => {
    const file = path.join(tmp.dir, 'tiny-stats.gguf');
    await synthesize('tiny', file, { type: 'f32', seed: 4 });
    const model = buildSynthModel('tiny', { type: 'f32', seed: 4 });
    withGguf(file, (g) => {
      for (const t of model.tensors) {
        const s = stats(g.dequantize(t.name));
        if (t.init.transform === 'neg_exp') {
          expect(s.max, t.name).toBeLessThan(0);
          continue;
        }
        const n = t.shape.reduce((a, b) => a * b, 1);
        // Sampling error of the mean is std/sqrt(n); allow 5 of those (plus slack for tiny n).
        expect(Math.abs(s.mean - t.init.mean), t.name).toBeLessThan((5 * t.init.std) / Math.sqrt(n) + 1e-6);
        // The relative sampling error of a std estimate is about 1/sqrt(2n).
        if (n >= 100) expect(Math.abs(s.std / t.init.std - 1), t.name).toBeLessThan(5 / Math.sqrt(2 * n));
      }
      const ssmA = g.dequantize('blk.0.ssm_a');
      expect(Array.from(ssmA).every((v) => v < 0 && v > -5)).toBe(true);
    });
  });

  it('a tensor has the same values at any weight type and block count', async () => {
    const f32 = path.join(tmp.dir, 'tiny-f32.gguf');
    const q8 = path.join(tmp.dir, 'tiny-q8.gguf');
    const bf16 = path.join(tmp.dir, 'tiny-bf16.gguf');
    const short = path.join(tmp.dir, 'tiny-short.gguf');
    await synthesize('tiny', f32, { type: 'f32', seed: 5 });
    await synthesize('tiny', q8, { type: 'q8_0', seed: 5 });
    await synthesize('tiny', bf16, { type: 'bf16', seed: 5 });
    await synthesize('tiny', short, { type: 'f32', seed: 5, layers: 2 });
    const name = 'blk.0.attn_qkv.weight';
    const ref = withGguf(f32, (g) => g.dequantize(name));
    expect(relRmse(withGguf(q8, (g) => g.dequantize(name)), ref)).toBeLessThan(0.01);
    expect(relRmse(withGguf(bf16, (g) => g.dequantize(name)), ref)).toBeLessThan(0.01);
    expect(withGguf(short, (g) => g.dequantize(name))).toEqual(ref);
  });

  it('ensureSynthModel writes once into the cache directory', async () => {
    const cacheDir = path.join(tmp.dir, 'cache');
    const first = await ensureSynthModel('tiny-r3', { cacheDir, layers: 4 });
    const hash = sha256(first);
    const again = await ensureSynthModel('tiny-r3', { cacheDir, layers: 4 });
    expect(again).toBe(first);
    expect(sha256(again)).toBe(hash);
    expect(await ensureSynthModel('tiny-r3', { cacheDir, layers: 4, seed: 9 })).not.toBe(first);
  });
});
