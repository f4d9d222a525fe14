// Importance matrices: petrel's imatrix-weighted quantizers give ggml_quantize_chunk's bytes, both
// imatrix file formats (llama-imatrix's GGUF and the legacy .dat) are read as llama-quantize reads
// them, and a model quantized with one is the model llama.cpp writes from the same importances.
// Broken imatrix files fail with one-line errors.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative, type NativeGguf } from '../../src/native/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { loadNative as quantizeAddon } from '../../src/native/index.js';
import { synthesize } from '../../src/synth/index.js';
import { makeTempDir } from '../synth/helpers.js';
import { ggmlBaseLibrary, loadGgmlRef } from '../support/ggmlRef.js';
import { llamaQuantize } from '../support/llamaQuantize.js';

/** node-llama-cpp's libggml-base (these tests need it, as they need its libllama). */
function ggml() {
  const lib = ggmlBaseLibrary();
  if (!('path' in lib)) throw new Error(lib.unsupported);
  return loadGgmlRef(lib.path);
}

const tmp = makeTempDir('petrel-imatrix-');
afterAll(() => tmp.cleanup());

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const T = { Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, IQ4_NL: 20, IQ4_XS: 23 };

describe('imatrix-weighted rows equal ggml_quantize_chunk with the same imatrix', () => {
  for (const [name, id] of Object.entries(T)) {
    it(name, () => {
      const nPerRow = 512;
      const r = rng(id);
      const src = Float32Array.from({ length: nPerRow * 5 }, (_, i) => (r() - 0.5) * (i % 97 === 0 ? 8 : 1));
      src.fill(0, nPerRow * 4, nPerRow * 4 + 64); // an all-zero stretch
      const imatrix = Float32Array.from({ length: nPerRow }, () => r() * r() * 4);
      const ours = quantizeAddon().quantizeRows(id, src, nPerRow, imatrix);
      const theirs = ggml().quantizeChunk(id, src, src.length / nPerRow, nPerRow, imatrix);
      expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
      // and without one, the plain reference quantizer
      const plain = quantizeAddon().quantizeRows(id, src, nPerRow);
      expect(Buffer.from(plain).equals(Buffer.from(ggml().quantizeChunk(id, src, src.length / nPerRow, nPerRow)))).toBe(true);
    });
  }
});

interface Entry {
  sums: Float32Array; // ne0 * nMat
  counts: Float32Array; // nMat
  ne0: number;
  nMat: number;
}

/** Made-up importance data for every quantizable matrix of a model. */
function makeEntries(model: NativeGguf): Map<string, Entry> {
  const r = rng(7);
  const out = new Map<string, Entry>();
  for (const t of model.tensors()) {
    if (t.shape.length < 2 || t.name.includes('norm') || t.name.includes('ssm_conv1d') || t.name.endsWith('ffn_gate_inp.weight')) continue;
    const ne0 = t.shape[0]!;
    const nMat = t.shape[2] ?? 1;
    const counts = Float32Array.from({ length: nMat }, (_, j) => (j === 1 ? 0 : 4)); // expert 1 never saw input
    const sums = Float32Array.from({ length: ne0 * nMat }, () => Math.fround(r() * r() * 16));
    out.set(t.name, { sums, counts, ne0, nMat });
  }
  return out;
}

/** What llama-quantize hands to llama_model_quantize: sums / count, 1 where count is 0. */
function expectedValues(entries: Map<string, Entry>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, e] of entries) {
    const v = new Float32Array(e.ne0 * e.nMat);
    for (let j = 0; j < e.nMat; j++) {
      for (let i = 0; i < e.ne0; i++) v[j * e.ne0 + i] = e.counts[j]! > 0 ? Math.fround(e.sums[j * e.ne0 + i]! / e.counts[j]!) : 1;
    }
    out.set(name, v);
  }
  return out;
}

async function writeGgufImatrix(file: string, entries: Map<string, Entry>): Promise<void> {
  const tensors = [...entries].flatMap(([name, e]) => [
    { name: `${name}.in_sum2`, type: 0, shape: [e.ne0, e.nMat], source: { kind: 'f32' as const, data: e.sums } },
    { name: `${name}.counts`, type: 0, shape: [1, e.nMat], source: { kind: 'f32' as const, data: e.counts } },
  ]);
  await loadNative().writeGguf(file, {
    metadata: [
      { key: 'general.type', type: 'str', value: 'imatrix' },
      { key: 'imatrix.datasets', type: 'arr', itemType: 'str', value: ['calibration.txt'] },
      { key: 'imatrix.chunk_count', type: 'u32', value: 10 },
      { key: 'imatrix.chunk_size', type: 'u32', value: 512 },
    ],
    tensors,
  });
}

/** The legacy format, holding the same values (ncall 4, so the sums are 4x the values; exact in float). */
function writeLegacyImatrix(file: string, values: Map<string, Float32Array>): void {
  const parts: Buffer[] = [];
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  parts.push(i32(values.size));
  for (const [name, v] of values) {
    const n = Buffer.from(name);
    parts.push(i32(n.length), n, i32(4), i32(v.length));
    parts.push(Buffer.from(Float32Array.from(v, (x) => x * 4).buffer));
  }
  const dataset = Buffer.from('calibration.txt');
  parts.push(i32(10), i32(dataset.length), dataset);
  writeFileSync(file, Buffer.concat(parts));
}

function tensorBytes(file: string): Map<string, { type: string; bytes: Buffer }> {
  const g = loadNative().openGguf(file);
  try {
    return new Map(g.tensors().map((t) => [t.name, { type: t.typeName, bytes: Buffer.from(new Uint8Array(g.tensorData(t.name))) }]));
  } finally {
    g.close();
  }
}

describe('quantizing a model with an imatrix', () => {
  let src: string;
  let ggufImatrix: string;
  let legacyImatrix: string;
  let values: Map<string, Float32Array>;
  beforeAll(async () => {
    src = path.join(tmp.dir, 'tiny-moe-f16.gguf');
    await synthesize('tiny-moe', src, { type: 'f16', seed: 31 });
    const model = loadNative().openGguf(src);
    const entries = makeEntries(model);
    model.close();
    values = expectedValues(entries);
    ggufImatrix = path.join(tmp.dir, 'imatrix.gguf');
    legacyImatrix = path.join(tmp.dir, 'imatrix.dat');
    await writeGgufImatrix(ggufImatrix, entries);
    writeLegacyImatrix(legacyImatrix, values);
  });

  for (const [type, ftype] of [['q4_k_m', 15], ['q4_0', 2], ['iq4_xs', 30], ['q2_k', 10]] as const) {
    it(`${type}: the tensors llama.cpp writes from the same importances (GGUF and legacy files)`, async () => {
      const fromGguf = path.join(tmp.dir, `${type}-gguf-imatrix.gguf`);
      const fromDat = path.join(tmp.dir, `${type}-dat-imatrix.gguf`);
      const theirs = path.join(tmp.dir, `${type}-llama-imatrix.gguf`);
      const summary = await quantizeGguf({ input: src, output: fromGguf, type, imatrix: ggufImatrix, threads: 2 });
      await quantizeGguf({ input: src, output: fromDat, type, imatrix: legacyImatrix, threads: 2 });
      llamaQuantize(src, theirs, ftype, { allowRequantize: true, imatrix: values });
      expect(summary.imatrixEntries).toBe(values.size);
      expect(summary.tensors.some((t) => t.withImatrix)).toBe(true);
      const [a, b, c] = [tensorBytes(fromGguf), tensorBytes(fromDat), tensorBytes(theirs)];
      expect([...a.keys()]).toEqual([...c.keys()]);
      for (const [name, t] of c) {
        expect(a.get(name)!.type, name).toBe(t.type);
        expect(a.get(name)!.bytes.equals(t.bytes), `${type} ${name} (${t.type})`).toBe(true);
        expect(b.get(name)!.bytes.equals(t.bytes), `${type} ${name} from the legacy file`).toBe(true);
      }
      // llama-quantize records the imatrix in the metadata.
      const g = loadNative().openGguf(fromGguf);
      const md = new Map(g.metadata().map((kv) => [kv.key, kv.value]));
      g.close();
      expect(md.get('quantize.imatrix.file')).toBe(ggufImatrix);
      expect(md.get('quantize.imatrix.dataset')).toBe('calibration.txt');
      expect(md.get('quantize.imatrix.entries_count')).toBe(values.size);
      expect(md.get('quantize.imatrix.chunks_count')).toBe(10);
    });
  }

  it('an imatrix q4_0 protects the first ffn_down layers with Q4_1, as llama.cpp does', async () => {
    const out = path.join(tmp.dir, 'q4_0-plan.gguf');
    const s = await quantizeGguf({ input: src, output: out, type: 'q4_0', imatrix: ggufImatrix, dryRun: true });
    expect(s.tensors.find((t) => t.name === 'blk.0.ffn_down_exps.weight')?.toName).toBe('q4_1');
  });

  it('broken imatrix files fail with one-line errors', async () => {
    const out = path.join(tmp.dir, 'never.gguf');
    const bytes = readFileSync(legacyImatrix);
    const cases: [string, Buffer, string][] = [
      ['truncated.dat', bytes.subarray(0, 40), 'ERR_CORRUPT_FILE'],
      ['empty-count.dat', Buffer.from([0, 0, 0, 0]), 'ERR_CORRUPT_FILE'],
      ['huge-name.dat', Buffer.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]), 'ERR_CORRUPT_FILE'],
      ['nan.dat', (() => {
        const b = Buffer.from(bytes);
        const first = [...values.keys()][0]!;
        b.writeFloatLE(NaN, 4 + 4 + first.length + 8); // first value of the first entry
        return b;
      })(), 'ERR_CORRUPT_FILE'],
    ];
    for (const [name, data, code] of cases) {
      const file = path.join(tmp.dir, name);
      writeFileSync(file, data);
      const err = await quantizeGguf({ input: src, output: out, type: 'q4_k_m', imatrix: file }).catch((e: unknown) => e as Error & { code: string });
      expect(err, name).toBeInstanceOf(Error);
      expect((err as { code: string }).code, name).toBe(code);
      expect((err as Error).message).not.toContain('\n');
    }
    // An imatrix made for another model (wrong row length) is refused, as llama.cpp refuses it.
    const wrong = path.join(tmp.dir, 'wrong.dat');
    writeLegacyImatrix(wrong, new Map([['blk.0.ffn_up_shexp.weight', new Float32Array(100).fill(1)]]));
    const err = await quantizeGguf({ input: src, output: out, type: 'q4_k_m', imatrix: wrong }).catch((e: unknown) => e as Error & { code: string });
    expect((err as { code: string }).code).toBe('ERR_INVALID_ARGUMENT');
  });
});
