// Test models for the engine tests: synthetic presets (cached across test files, written
// atomically by ensureSynthModel) and the extra-arch fixtures, plus logit comparison helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSynthModel, SYNTH_FORMAT_VERSION } from '../../../src/synth/index.js';
import { writeExtraArch, type ExtraArch } from '../../fixtures/extraArchs.js';

const cacheDir = path.join(os.tmpdir(), `petrel-engine-test-models-v${SYNTH_FORMAT_VERSION}`);

/** `seed` gives a model with the same shapes and other weights (default 0). */
export function presetModel(preset: string, options: { layers?: number; type?: 'f32' | 'f16' | 'q8_0'; seed?: number } = {}): Promise<string> {
  return ensureSynthModel(preset, { cacheDir, type: options.type ?? 'f32', layers: options.layers, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = 'petrel-engine-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function extraArchModel(arch: ExtraArch, dir: string): Promise<string> {
  return writeExtraArch(arch, path.join(dir, `${arch}.gguf`));
}

/** Deterministic pseudo-random token ids in [0, nVocab). */
export function randomTokens(n: number, nVocab: number, seed = 1): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(s % nVocab);
  }
  return out;
}

export interface Diff {
  /** max |a - b| */
  maxAbs: number;
  /** max |b| (the logit scale) */
  scale: number;
  /** maxAbs / scale */
  rel: number;
}

/** Compares rows of engine logits (flattened) with reference rows. */
export function compareLogits(engine: Float32Array, reference: ArrayLike<number>[]): Diff {
  const nVocab = reference[0]!.length;
  if (engine.length !== reference.length * nVocab) throw new Error(`logit count ${engine.length} != ${reference.length}×${nVocab}`);
  let maxAbs = 0;
  let scale = 0;
  reference.forEach((row, t) => {
    for (let i = 0; i < nVocab; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(engine[t * nVocab + i]! - row[i]!));
      scale = Math.max(scale, Math.abs(row[i]!));
    }
  });
  return { maxAbs, scale, rel: maxAbs / scale };
}

/** Exact equality of two logit arrays (same computation, same order). */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
