// The default bench model is made once (synth F16, then Q4_K_M) and cached; here with the tiny
// preset and, but for one test, a stand-in quantizer so they are fast.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeModelFile } from '../../src/bench/modelDescription.js';
import { benchCacheDir, defaultModelPath, ensureDefaultModel, progressFraction, type QuantizeFn } from '../../src/bench/defaultModel.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-default-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench default model', () => {
  it('lives under $XDG_CACHE_HOME/petrel/bench', () => {
    expect(benchCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe(path.join('/x/cache', 'petrel', 'bench'));
    expect(defaultModelPath('/c')).toMatch(/^\/c\/qwen35-0\.8b-q4_k_m-s0-v\d+\.gguf$/);
  });

  it('is generated once, quantized to q4_k_m, then taken from the cache', async () => {
    const calls: Array<{ input: string; output: string; type: string }> = [];
    const quantize: QuantizeFn = async (o) => {
      calls.push({ input: o.input, output: o.output, type: o.type });
      expect(existsSync(o.input)).toBe(true);
      o.onProgress?.({ done: 1, total: 2 });
      copyFileSync(o.input, o.output);
    };
    const steps: string[] = [];
    const cacheDir = path.join(dir, 'cache');
    const first = await ensureDefaultModel({ cacheDir, preset: 'tiny', quantize, onProgress: (s) => steps.push(s.step) });
    expect(first).toBe(defaultModelPath(cacheDir, 'tiny'));
    expect(existsSync(first)).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.type).toBe('q4_k_m');
    expect(calls[0]!.output).toBe(first);
    expect(steps).toContain('synth');
    expect(steps).toContain('quantize');
    // The F16 source is only an input: it does not stay in the cache.
    expect(readdirSync(cacheDir)).toEqual([path.basename(first)]);

    const second = await ensureDefaultModel({ cacheDir, preset: 'tiny', quantize });
    expect(second).toBe(first);
    expect(calls).toHaveLength(1);
  });

  it('a failed quantization leaves nothing behind', async () => {
    const cacheDir = path.join(dir, 'failing');
    const quantize: QuantizeFn = async () => {
      throw new Error('quantizer failed');
    };
    await expect(ensureDefaultModel({ cacheDir, preset: 'tiny', quantize })).rejects.toThrow('quantizer failed');
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  // Every addon build has the native quantizer (native/quantize), so nothing here may skip it:
  // an addon without it is a stale build, and the test fails.
  it('uses src/quantize when no quantizer is passed (tiny preset)', async () => {
    const cacheDir = path.join(dir, 'real');
    const file = await ensureDefaultModel({ cacheDir, preset: 'tiny', threads: 1 });
    expect(describeModelFile(file).type).toBe('qwen35 ?B Q4_K - Medium');
    expect(readdirSync(cacheDir)).toEqual([path.basename(file)]);
  });

  it('reads a share done from common progress shapes', () => {
    expect(progressFraction(0.5)).toBe(0.5);
    expect(progressFraction({ done: 1, total: 4 })).toBe(0.25);
    expect(progressFraction({ doneBytes: 3, totalBytes: 4, tensorIndex: 0, nTensors: 9 })).toBe(0.75);
    expect(progressFraction({ tensorsDone: 3, tensorsTotal: 6 })).toBe(0.5);
    expect(progressFraction({ phase: 'x' })).toBeUndefined();
  });
});
