// The GGUF reader and writer through the addon: metadata and tensor round trips for every value
// type and tensor source, zero-copy tensorData, split models, the writer's temp-file + rename
// guarantees, and a hostile corpus (each file must throw one coded, one-line Error, never crash).
// PETREL_ADDON=/path/to/petrel.node runs it against another build (e.g. a sanitizer build).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, type GgufKv, type GgufWriteSpec, type NativeGguf } from '../../src/native/index.js';
import { buildGguf, hostileGgufCases } from '../fixtures/hostileGguf.js';

const native = loadNative();
const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-gguf-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => path.join(dir, name);

const F32 = 0;
const F16 = 1;
const Q8_0 = 8;
const IQ2_XXS = 16;

function withGguf<T>(p: string, fn: (g: NativeGguf) => T): T {
  const g = native.openGguf(p);
  try {
    return fn(g);
  } finally {
    g.close();
  }
}

function ramp(n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * Math.sin(0.37 * i + 0.1);
  return v;
}

/** The error `fn` throws (synchronously or as a rejection). */
async function caught(fn: () => unknown): Promise<Error & { code?: string }> {
  try {
    await fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an error');
}

const allTypes: GgufKv[] = [
  { key: 't.u8', type: 'u8', value: 255 },
  { key: 't.i8', type: 'i8', value: -128 },
  { key: 't.u16', type: 'u16', value: 65535 },
  { key: 't.i16', type: 'i16', value: -32768 },
  { key: 't.u32', type: 'u32', value: 4294967295 },
  { key: 't.i32', type: 'i32', value: -2147483648 },
  { key: 't.f32', type: 'f32', value: 0.1 },
  { key: 't.bool', type: 'bool', value: true },
  { key: 't.str', type: 'str', value: 'héllo 中文 \u0000 end' },
  { key: 't.u64.small', type: 'u64', value: 12345 },
  { key: 't.u64.big', type: 'u64', value: 18446744073709551615n },
  { key: 't.i64.small', type: 'i64', value: -9007199254740991 },
  { key: 't.i64.big', type: 'i64', value: -9223372036854775808n },
  { key: 't.f64', type: 'f64', value: -1.25e-300 },
  { key: 'a.u8', type: 'arr', itemType: 'u8', value: [0, 1, 255] },
  { key: 'a.i16', type: 'arr', itemType: 'i16', value: [-2, 2] },
  { key: 'a.u32', type: 'arr', itemType: 'u32', value: [7, 4000000000] },
  { key: 'a.i32', type: 'arr', itemType: 'i32', value: [-7, 1 << 30] },
  { key: 'a.f32', type: 'arr', itemType: 'f32', value: [0.5, -2, Infinity] },
  { key: 'a.f64', type: 'arr', itemType: 'f64', value: [1e300, NaN] },
  { key: 'a.bool', type: 'arr', itemType: 'bool', value: [true, false] },
  { key: 'a.str', type: 'arr', itemType: 'str', value: ['a', '', '中'] },
  { key: 'a.u64', type: 'arr', itemType: 'u64', value: [1, 2n ** 60n] },
  { key: 'a.i64', type: 'arr', itemType: 'i64', value: [-1, -(2n ** 62n)] },
  { key: 'a.empty', type: 'arr', itemType: 'i32', value: [] },
  {
    key: 'a.nested',
    type: 'arr',
    itemType: 'arr',
    value: [
      { itemType: 'i32', value: [1, 2] },
      { itemType: 'str', value: ['x'] },
      { itemType: 'arr', value: [{ itemType: 'f32', value: [3] }] },
      { itemType: 'arr', value: [] },
    ],
  },
];

describe('writeGguf -> openGguf round trip', () => {
  it('keeps every metadata value type, nested arrays included', async () => {
    const p = file('meta.gguf');
    await native.writeGguf(p, { metadata: allTypes, tensors: [] });
    withGguf(p, (g) => {
      expect(g.version).toBe(3);
      expect(g.alignment).toBe(32);
      expect(g.paths).toEqual([p]);
      expect(g.tensors()).toEqual([]);
      const md = g.metadata();
      const expected = allTypes.map((kv) =>
        kv.key === 't.f32' ? { ...kv, value: Math.fround(0.1) } : kv,
      );
      expect(md).toEqual(expected);
      // 64-bit integers: numbers when safe, bigints otherwise
      expect(typeof md.find((kv) => kv.key === 't.u64.small')!.value).toBe('number');
      expect(typeof md.find((kv) => kv.key === 't.u64.big')!.value).toBe('bigint');
    });
  });

  it('writes tensors from f32 data, raw bytes and the random generator', async () => {
    const p = file('tensors.gguf');
    const f32 = ramp(64 * 3);
    const raw = new Uint8Array(66 * 2).map((_, i) => (i * 13) & 0xff); // two iq2_xxs blocks, no quantizer needed
    const spec: GgufWriteSpec = {
      metadata: [{ key: 'general.architecture', type: 'str', value: 'test' }],
      tensors: [
        { name: 'copy.f32', shape: [64, 3], type: F32, source: { kind: 'f32', data: f32 } },
        { name: 'conv.f16', shape: [64, 3], type: F16, source: { kind: 'f32', data: f32 } },
        { name: 'conv.q8', shape: [64, 1, 3], type: Q8_0, source: { kind: 'f32', data: f32 } },
        { name: 'raw.iq2', shape: [256, 2], type: IQ2_XXS, source: { kind: 'raw', data: raw } },
        { name: 'rand.f32', shape: [1000], type: F32, source: { kind: 'random', seed: 5, mean: 1, std: 0.5 } },
        { name: 'rand.q8', shape: [128, 4, 2, 1], type: Q8_0, source: { kind: 'random', seed: 6, mean: 0, std: 0.02 } },
        { name: 'rand.negexp', shape: [32], type: F32, source: { kind: 'random', seed: 7, mean: 0, std: 1, transform: 'neg_exp' } },
      ],
    };
    const seen: [number, number][] = [];
    await native.writeGguf(p, spec, (w, t) => seen.push([w, t]));
    const bytes = readFileSync(p);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual([bytes.length, bytes.length]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);

    withGguf(p, (g) => {
      const ts = g.tensors();
      expect(ts.map((t) => t.name)).toEqual(spec.tensors.map((t) => t.name));
      for (const t of ts) {
        expect(t.split).toBe(0);
        expect(t.fileOffset % 32).toBe(0);
        const data = g.tensorData(t.name);
        expect(data.byteLength).toBe(t.size);
        // zero-copy view of exactly the file's bytes
        expect(Buffer.from(data).equals(bytes.subarray(t.fileOffset, t.fileOffset + t.size))).toBe(true);
      }
      const q8 = ts.find((t) => t.name === 'conv.q8')!;
      expect(q8).toMatchObject({ type: Q8_0, typeName: 'q8_0', shape: [64, 1, 3], nElements: 192, size: 6 * 34 });
      expect(new Float32Array(g.tensorData('copy.f32'))).toEqual(f32);
      const f16 = g.dequantize('conv.f16');
      f16.forEach((v, i) => expect(Math.abs(v - f32[i]!)).toBeLessThan(1e-3));
      const dq8 = g.dequantize('conv.q8');
      dq8.forEach((v, i) => expect(Math.abs(v - f32[i]!)).toBeLessThan(0.01));
      expect(new Uint8Array(g.tensorData('raw.iq2'))).toEqual(raw);
      const r = g.dequantize('rand.f32');
      const mean = r.reduce((a, b) => a + b, 0) / r.length;
      expect(Math.abs(mean - 1)).toBeLessThan(0.1);
      expect(g.dequantize('rand.negexp').every((v) => v < 0)).toBe(true);
      // iq2_xxs can be stored but petrel cannot convert it to f32
      const e = (() => {
        try {
          g.dequantize('raw.iq2');
        } catch (err) {
          return err as Error & { code?: string };
        }
      })();
      expect(e?.code).toBe('ERR_UNSUPPORTED');
    });
  });

  it('random tensors: same seed, same bytes; another seed, other bytes', async () => {
    const spec = (seed: number): GgufWriteSpec => ({
      metadata: [],
      tensors: [
        { name: 'w', shape: [4096, 300], type: Q8_0, source: { kind: 'random', seed, mean: 0, std: 0.05 } },
        { name: 'v', shape: [300000], type: F32, source: { kind: 'random', seed: seed + 1, mean: 0, std: 1 } },
      ],
    });
    await native.writeGguf(file('r1.gguf'), spec(1));
    await native.writeGguf(file('r2.gguf'), spec(1));
    await native.writeGguf(file('r3.gguf'), spec(2));
    const a = readFileSync(file('r1.gguf'));
    expect(a.equals(readFileSync(file('r2.gguf')))).toBe(true);
    expect(a.equals(readFileSync(file('r3.gguf')))).toBe(false);
  });

  it('honours the alignment (general.alignment = 64)', async () => {
    const p = file('align.gguf');
    const tensors = [3, 5, 7].map((n, i) => ({
      name: `t${i}`,
      shape: [n],
      type: F32,
      source: { kind: 'f32' as const, data: ramp(n) },
    }));
    await native.writeGguf(p, { alignment: 64, metadata: [], tensors });
    withGguf(p, (g) => {
      expect(g.alignment).toBe(64);
      expect(g.metadata()).toContainEqual({ key: 'general.alignment', type: 'u32', value: 64 });
      for (const t of g.tensors()) expect(t.fileOffset % 64).toBe(0);
    });
  });

  it('keeps tensorData buffers valid after close(), and refuses calls after it', async () => {
    const p = file('close.gguf');
    await native.writeGguf(p, {
      metadata: [],
      tensors: [{ name: 'x', shape: [16], type: F32, source: { kind: 'f32', data: ramp(16) } }],
    });
    const g = native.openGguf(p);
    const buf = g.tensorData('x');
    const again = g.tensorData('x');
    g.close();
    expect(new Float32Array(buf)).toEqual(ramp(16));
    // writing into the view touches a private copy, never the file
    new Float32Array(again)[0] = 42;
    expect(new Float32Array(again)[0]).toBe(42);
    withGguf(p, (g2) => expect(new Float32Array(g2.tensorData('x'))).toEqual(ramp(16)));
    for (const call of [() => g.metadata(), () => g.tensors(), () => g.tensorData('x'), () => g.dequantize('x')]) {
      expect(call).toThrow(/after close/);
    }
    expect(() => native.openGguf(p).tensorData('nope')).toThrow(/no tensor named 'nope'/);
  });
});

describe('split models', () => {
  const part = (no: number, count: number, names: string[], total: number): GgufWriteSpec => ({
    metadata: [
      ...(no === 0 ? [{ key: 'general.architecture', type: 'str' as const, value: 'test' }] : []),
      { key: 'split.no', type: 'u16', value: no },
      { key: 'split.count', type: 'u16', value: count },
      { key: 'split.tensors.count', type: 'i32', value: total },
    ],
    tensors: names.map((name) => ({ name, shape: [32], type: F32, source: { kind: 'f32' as const, data: ramp(32) } })),
  });

  it('opens every part from the first and merges the tensors', async () => {
    const prefix = file('model');
    await native.writeGguf(`${prefix}-00001-of-00002.gguf`, part(0, 2, ['a', 'b'], 3));
    await native.writeGguf(`${prefix}-00002-of-00002.gguf`, part(1, 2, ['c'], 3));
    withGguf(`${prefix}-00001-of-00002.gguf`, (g) => {
      expect(g.paths).toEqual([`${prefix}-00001-of-00002.gguf`, `${prefix}-00002-of-00002.gguf`]);
      expect(g.tensors().map((t) => [t.name, t.split])).toEqual([['a', 0], ['b', 0], ['c', 1]]);
      expect(new Float32Array(g.tensorData('c'))).toEqual(ramp(32));
      expect(g.metadata()[0]).toEqual({ key: 'general.architecture', type: 'str', value: 'test' });
    });
    rmSync(`${prefix}-00002-of-00002.gguf`);
    const e = await caught(() => native.openGguf(`${prefix}-00001-of-00002.gguf`));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toMatch(/part 2 of 2 is missing/);
  });
});

describe('hostile files', () => {
  it.each(hostileGgufCases().map((c) => [c.name, c] as const))('%s is refused with one coded line', async (_name, c) => {
    const p = file(`hostile-${c.name.replace(/\W+/g, '_')}.gguf`);
    writeFileSync(p, c.bytes);
    const e = await caught(() => native.openGguf(p));
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(c.code);
    expect(e.message).not.toMatch(/[\n\r]/);
    expect(e.message.startsWith(`${p}: `)).toBe(true);
    expect(e.message).toContain(c.message);
  });

  it('refuses a valid file truncated at every byte before the end of its tensor data', () => {
    const full = buildGguf();
    const p = file('truncated.gguf');
    // the last tensor's data ends 64 bytes into the data section; the file has no trailing padding
    for (let n = 0; n < full.length; n++) {
      writeFileSync(p, full.subarray(0, n));
      let code: string | undefined;
      try {
        native.openGguf(p).close();
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code, `prefix of ${n} bytes`).toBe('ERR_CORRUPT_FILE');
    }
    writeFileSync(p, full);
    withGguf(p, (g) => expect(g.tensors()).toHaveLength(2));
  });

  it('reports a missing file as ERR_IO', async () => {
    const e = await caught(() => native.openGguf(file('missing.gguf')));
    expect(e.code).toBe('ERR_IO');
  });
});

/** An array value nested `levels` deep ({itemType, value}). */
function nest(levels: number): { itemType: 'i8' | 'arr'; value: unknown[] } {
  return levels <= 1 ? { itemType: 'i8', value: [1] } : { itemType: 'arr', value: [nest(levels - 1)] };
}

describe('writer failures leave the target untouched', () => {
  const target = file('target.gguf');
  const good: GgufWriteSpec = {
    metadata: [{ key: 'k', type: 'u8', value: 1 }],
    tensors: [{ name: 't', shape: [8], type: F32, source: { kind: 'f32', data: ramp(8) } }],
  };
  const bad: [string, unknown][] = [
    ['spec not an object', 5],
    ['u8 out of range', { metadata: [{ key: 'k', type: 'u8', value: 300 }], tensors: [] }],
    ['unknown value type', { metadata: [{ key: 'k', type: 'u128', value: 1 }], tensors: [] }],
    ['array without itemType', { metadata: [{ key: 'k', type: 'arr', value: [1] }], tensors: [] }],
    ['string where a number goes', { metadata: [{ key: 'k', type: 'f32', value: '1' }], tensors: [] }],
    ['duplicate key', { metadata: [good.metadata[0], good.metadata[0]], tensors: [] }],
    ['unknown ggml type', { metadata: [], tensors: [{ ...good.tensors[0], type: 99 }] }],
    ['shape vs data length', { metadata: [], tensors: [{ ...good.tensors[0], shape: [9] }] }],
    ['raw size', { metadata: [], tensors: [{ name: 'r', shape: [8], type: F32, source: { kind: 'raw', data: new Uint8Array(31) } }] }],
    ['f32 data not a Float32Array', { metadata: [], tensors: [{ name: 'r', shape: [8], type: F32, source: { kind: 'f32', data: [1, 2] } }] }],
    ['unknown source kind', { metadata: [], tensors: [{ name: 'r', shape: [8], type: F32, source: { kind: 'zeros' } }] }],
    ['negative seed', { metadata: [], tensors: [{ name: 'r', shape: [8], type: F32, source: { kind: 'random', seed: -1, mean: 0, std: 1 } }] }],
    ['row not whole blocks', { metadata: [], tensors: [{ name: 'r', shape: [33], type: Q8_0, source: { kind: 'random', seed: 1, mean: 0, std: 1 } }] }],
    ['bad alignment', { ...good, alignment: 48 }],
    ['arrays nested 9 levels', { metadata: [{ key: 'deep', type: 'arr', ...nest(9) }], tensors: [] }],
  ];

  it.each(bad)('rejects an invalid spec (%s) with ERR_INVALID_ARGUMENT', async (_name, spec) => {
    writeFileSync(target, 'old contents');
    const e = await caught(() => native.writeGguf(target, spec as GgufWriteSpec));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).not.toContain('\n');
    expect(readFileSync(target, 'utf8')).toBe('old contents');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('accepts arrays nested 8 levels deep', async () => {
    const p = file('deep.gguf');
    await native.writeGguf(p, { metadata: [{ key: 'deep', type: 'arr', ...nest(8) } as GgufKv], tensors: [] });
    withGguf(p, (g) => expect(g.metadata()).toEqual([{ key: 'deep', type: 'arr', ...nest(8) }]));
  });

  it('fails with ERR_IO for a directory that does not exist', async () => {
    const e = await caught(() => native.writeGguf(path.join(dir, 'no', 'such', 'x.gguf'), good));
    expect(e.code).toBe('ERR_IO');
  });

  it('removes the temp file when the rename fails (target is a directory)', async () => {
    const sub = file('a-directory');
    mkdirSync(sub);
    await caught(() => native.writeGguf(sub, good));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('cancels and rejects with the error when onProgress throws', async () => {
    writeFileSync(target, 'old contents');
    const big: GgufWriteSpec = {
      metadata: [],
      tensors: [{ name: 'w', shape: [1 << 23], type: F32, source: { kind: 'random', seed: 1, mean: 0, std: 1 } }],
    };
    const e = await caught(() =>
      native.writeGguf(target, big, () => {
        throw new Error('stop here');
      }),
    );
    expect(e.message).toBe('stop here');
    expect(readFileSync(target, 'utf8')).toBe('old contents');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('replaces the target only when the write succeeds', async () => {
    writeFileSync(target, 'old contents');
    await native.writeGguf(target, good);
    withGguf(target, (g) => expect(g.tensors()).toHaveLength(1));
    expect(existsSync(`${target}.tmp-${process.pid}`)).toBe(false);
  });
});
