// petrel's tensor formats against llama.cpp's own code (libggml-base from node-llama-cpp):
// type table sizes, dequantization of ggml-made and random blocks, and quantization, all
// bit-exact (floats compared as Uint32 bit patterns); plus systemInfo() against /proc/cpuinfo.
// systemInfo().cpuFeatures uses petrel's names; /proc/cpuinfo's differ for a few
// (sse4_2 -> sse4.2, avx512_vnni -> avx512vnni, avx512_bf16 -> avx512bf16, avx_vnni -> avxvnni,
// asimd -> neon, asimddp -> dotprod, fphp + asimdhp -> fp16).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadNative, type NativeTypeInfo } from '../../src/native/index.js';
import { GGML_TYPE_COUNT, ggmlBaseLibrary, loadGgmlRef, type GgmlRef } from '../support/ggmlRef.js';
import { skipAllIfReason, skipIfReason } from '../support/skip.js';

const native = loadNative();
const table = native.typeTable();
const byName = new Map(table.map((t) => [t.name, t]));
// Throws (this file fails) when node-llama-cpp's libggml-base is missing: it is a dev dependency.
const lib = ggmlBaseLibrary();
const ggml: GgmlRef | undefined = 'path' in lib ? loadGgmlRef(lib.path) : undefined;
const noGgml = 'unsupported' in lib ? lib.unsupported : undefined;

function type(name: string): NativeTypeInfo {
  const t = byName.get(name);
  if (!t) throw new Error(`petrel's type table has no ${name}`);
  return t;
}

// ---- deterministic random data -----------------------------------------------------------------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normals(r: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}

const ROWS = 4;
const ROW = 512; // a multiple of every block size

/** Named tensors of ROWS x ROW floats that stress different parts of the quantizers. */
function tensors(): [string, Float32Array][] {
  const r = rng(42);
  const n = ROWS * ROW;
  const map = (f: (x: number, i: number) => number) => normals(r, n).map(f);
  const outliers = map((x) => 0.01 * x);
  for (const i of [3, 700, 1500, 2047]) outliers[i] = i % 2 ? 100 : -250;
  return [
    ['normal', normals(r, n)],
    ['uniform', map(() => 2 * r() - 1)],
    ['heavy tails', map((x) => 0.1 * x * x * x)],
    ['positive', map((x) => Math.exp(x))],
    ['negative mean', map((x) => x - 3)],
    ['sparse', map((x) => (r() < 0.9 ? 0 : x))],
    ['all zero', new Float32Array(n)],
    ['outliers', outliers],
    ['tiny', map((x) => x * 1e-39)], // fp32 subnormals: scales underflow
    ['constant', new Float32Array(n).fill(0.5)],
    ['row scales', map((x, i) => x * 10 ** (Math.floor(i / ROW) * 2 - 3))],
    ['halves', map(() => (Math.floor(r() * 9) - 4) / 2)], // rounding ties
    ['zero blocks', map((x, i) => (Math.floor(i / 32) % 3 === 0 ? 0 : x))],
    ['huge', map((x) => x * 1e5)], // fp16 scales overflow
  ];
}

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const g = bits(got);
  const w = bits(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) {
      throw new Error(`${what}: element ${i} is ${got[i]} (0x${g[i]!.toString(16)}), ggml gives ${want[i]} (0x${w[i]!.toString(16)})`);
    }
  }
}

function expectSameBytes(got: Uint8Array, want: Uint8Array, what: string, blockBytes: number): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: byte ${i} (block ${Math.floor(i / blockBytes)}, offset ${i % blockBytes}) is ${got[i]}, ggml writes ${want[i]}`);
    }
  }
}

// Byte offsets of the fp16 scale fields in each block (blocks.h).
const FP16_FIELDS: Record<string, number[]> = {
  q4_0: [0], q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], q8_0: [0],
  q2_K: [80, 82], q3_K: [108], q4_K: [0, 2], q5_K: [0, 2], q6_K: [208],
  iq4_nl: [0], iq4_xs: [0],
};

/** Random blocks of `t`; fp16 scales (and Q8_K's fp32 d) replaced by finite values unless `raw`. */
function randomBlocks(t: NativeTypeInfo, blocks: number, seed: number, raw: boolean): Uint8Array {
  const r = rng(seed);
  const data = new Uint8Array(blocks * t.typeSize);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  if (raw) return data;
  const view = new DataView(data.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * t.typeSize;
    for (const off of FP16_FIELDS[t.name] ?? []) {
      // any sign, exponent 0..30 (subnormals included, never inf/NaN), any mantissa
      view.setUint16(base + off, (Math.floor(r() * 2) << 15) | (Math.floor(r() * 31) << 10) | Math.floor(r() * 1024), true);
    }
    if (t.name === 'q8_K') view.setFloat32(base, (r() - 0.5) * 2 ** Math.floor(r() * 40 - 30), true);
  }
  return data;
}

// ---- the tests -------------------------------------------------------------------------------------

describe('type table', () => {
  it('lists each type once, with whole blocks', () => {
    expect(new Set(table.map((t) => t.id)).size).toBe(table.length);
    for (const t of table) {
      expect(t.blockSize).toBeGreaterThan(0);
      expect(t.typeSize).toBeGreaterThan(0);
      if (t.canQuantize) expect(t.canDequantize).toBe(true);
    }
    const readable = table.filter((t) => t.canDequantize).map((t) => t.name);
    for (const name of ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'q8_K', 'iq4_nl', 'iq4_xs', 'mxfp4']) {
      expect(readable).toContain(name);
    }
  });

  it("matches ggml's names, block sizes and type sizes", (ctx) => {
    skipIfReason(ctx, noGgml);
    for (const t of table) {
      expect(t.id).toBeLessThan(GGML_TYPE_COUNT);
      const g = ggml!.traits(t.id);
      expect({ id: t.id, name: t.name, blockSize: t.blockSize, typeSize: t.typeSize }).toEqual({
        id: t.id,
        name: g.name,
        blockSize: g.blockSize,
        typeSize: g.typeSize,
      });
    }
  });
});

describe('dequantize is bit-identical to ggml', () => {
  skipAllIfReason(noGgml);
  const compared = ggml ? table.filter((t) => t.canDequantize && ggml.traits(t.id).hasToFloat) : [];

  it('covers every type both can convert', () => {
    expect(compared.map((t) => t.name).sort()).toEqual(
      ['bf16', 'f16', 'iq4_nl', 'iq4_xs', 'mxfp4', 'q2_K', 'q3_K', 'q4_0', 'q4_1', 'q4_K', 'q5_0', 'q5_1', 'q5_K', 'q6_K', 'q8_0', 'q8_K'].sort(),
    );
  });

  it('on blocks that ggml quantized from varied data', () => {
    for (const t of compared) {
      for (const [label, x] of tensors()) {
        if (!t.canQuantize && t.name !== 'q8_K') continue;
        const q = t.name === 'q8_K' ? ggml!.quantizeRowQ8K(x) : ggml!.quantizeChunk(t.id, x, ROWS, ROW);
        expectSameBits(native.dequantize(t.id, q, x.length), ggml!.dequantize(t.id, q, x.length), `${t.name} / ${label}`);
      }
    }
  });

  it('on random bytes with finite scales (odd block counts)', () => {
    for (const t of compared) {
      for (const blocks of [1, 3, 37]) {
        const q = randomBlocks(t, blocks, t.id * 1000 + blocks, false);
        const n = blocks * t.blockSize;
        expectSameBits(native.dequantize(t.id, q, n), ggml!.dequantize(t.id, q, n), `${t.name} x${blocks} random`);
      }
    }
  });

  it('on fully random bytes, NaN and inf scales included', () => {
    for (const t of compared) {
      const blocks = t.blockSize === 1 ? 4099 : 64;
      const q = randomBlocks(t, blocks, t.id + 7, true);
      const n = blocks * t.blockSize;
      const got = native.dequantize(t.id, q, n);
      const want = ggml!.dequantize(t.id, q, n);
      for (let i = 0; i < n; i++) {
        const same = Number.isNaN(got[i]!) ? Number.isNaN(want[i]!) : Object.is(got[i], want[i]);
        if (!same) throw new Error(`${t.name} raw: element ${i} is ${got[i]}, ggml gives ${want[i]}`);
      }
    }
  });

  it('f16 and bf16 for every bit pattern', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const bytes = new Uint8Array(all.buffer);
    for (const name of ['f16', 'bf16']) {
      const t = type(name);
      expectSameBits(native.dequantize(t.id, bytes, 65536), ggml!.dequantize(t.id, bytes, 65536), `${name} all values`);
    }
  });

  it('from an unaligned Uint8Array', () => {
    const t = type('q4_K');
    const q = randomBlocks(t, 5, 99, false);
    const shifted = new Uint8Array(q.length + 1);
    shifted.set(q, 1);
    const view = shifted.subarray(1);
    expectSameBits(native.dequantize(t.id, view, 5 * 256), ggml!.dequantize(t.id, q, 5 * 256), 'q4_K unaligned');
  });
});

describe('quantize is bit-identical to ggml_quantize_chunk', () => {
  skipAllIfReason(noGgml);
  const quantizable = table.filter((t) => t.canQuantize);

  it('claims the types it should', () => {
    expect(quantizable.map((t) => t.name).sort()).toEqual(
      ['bf16', 'f16', 'f32', 'iq4_nl', 'iq4_xs', 'mxfp4', 'q2_K', 'q3_K', 'q4_0', 'q4_1', 'q4_K', 'q5_0', 'q5_1', 'q5_K', 'q6_K', 'q8_0', 'q8_K'].sort(),
    );
  });

  for (const name of ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'mxfp4', 'iq4_nl', 'q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'iq4_xs', 'q8_K']) {
    it(name, () => {
      const t = type(name);
      expect(t.canQuantize).toBe(true);
      for (const [label, x] of tensors()) {
        const want = name === 'q8_K' ? ggml!.quantizeRowQ8K(x) : ggml!.quantizeChunk(t.id, x, ROWS, ROW);
        expectSameBytes(native.quantize(t.id, x), want, `${name} / ${label}`, t.typeSize);
      }
    });
  }

  it('short rows of the 32-value formats', () => {
    const x = normals(rng(7), 96);
    for (const name of ['q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'mxfp4']) {
      const t = type(name);
      expectSameBytes(native.quantize(t.id, x), ggml!.quantizeChunk(t.id, x, 1, 96), `${name} 96 values`, t.typeSize);
    }
  });

  it('f16 and bf16 rounding of special values', () => {
    const specials = new Float32Array([
      0, -0, 1, 65504, 65519.99, 65520, 1e10, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25, 1.5 * 2 ** -24, 2 ** -14,
      1 + 2 ** -11, 1 + 3 * 2 ** -11, 1e-45, 3.4e38,
    ]);
    const u = new Uint32Array(specials.buffer);
    u[9] = 0x7f800001; // a signalling NaN
    for (const name of ['f16', 'bf16']) {
      const t = type(name);
      expectSameBytes(native.quantize(t.id, specials), ggml!.quantizeChunk(t.id, specials, 1, specials.length), name, 2);
    }
  });

  it('f16 and bf16 rounding of a million random bit patterns (NaNs included)', () => {
    const r = rng(11);
    const u = new Uint32Array(1 << 20).map(() => Math.floor(r() * 4294967296));
    const x = new Float32Array(u.buffer);
    for (const name of ['f16', 'bf16']) {
      const t = type(name);
      expectSameBytes(native.quantize(t.id, x), ggml!.quantizeChunk(t.id, x, 1, x.length), `${name} random bits`, 2);
    }
  });
});

describe('argument checks', () => {
  it('rejects bad calls with stable codes', () => {
    const q8 = type('q8_0');
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(err(() => native.dequantize(q8.id, new Uint8Array(34), 31))).toBe('ERR_INVALID_ARGUMENT');
    expect(err(() => native.dequantize(q8.id, new Uint8Array(33), 32))).toBe('ERR_INVALID_ARGUMENT');
    expect(err(() => native.dequantize(q8.id, new Uint8Array(34), -32))).toBe('ERR_INVALID_ARGUMENT');
    expect(err(() => native.dequantize(4, new Uint8Array(18), 32))).toBe('ERR_INVALID_ARGUMENT'); // removed Q4_2
    expect(err(() => native.dequantize(type('iq2_xxs').id, new Uint8Array(66), 256))).toBe('ERR_UNSUPPORTED');
    expect(err(() => native.dequantize(q8.id, new Float32Array(34) as unknown as Uint8Array, 32))).toBe('ERR_INVALID_ARGUMENT');
    expect(err(() => native.quantize(q8.id, new Float32Array(33)))).toBe('ERR_INVALID_ARGUMENT');
    expect(err(() => native.quantize(type('i32').id, new Float32Array(4)))).toBe('ERR_UNSUPPORTED');
    expect(err(() => native.quantize(q8.id, new Float32Array(32).fill(NaN)))).toBe('ERR_INVALID_ARGUMENT');
    expect(native.quantize(q8.id, new Float32Array(0)).length).toBe(0);
    expect(native.dequantize(q8.id, new Uint8Array(0), 0).length).toBe(0);
  });
});

describe('systemInfo', () => {
  const info = native.systemInfo();

  it('describes the build', () => {
    expect(info.arch).toBe(process.arch);
    expect(info.compiler.length).toBeGreaterThan(0);
    expect(info.backendsCompiled).toContain('cpu');
    expect(info.backendsAvailable).toContain('cpu');
    for (const b of info.backendsAvailable) expect(info.backendsCompiled).toContain(b);
    // Every device belongs to an available backend, and a compiled-in GPU backend is either
    // available or says why not.
    for (const d of info.devices) expect(info.backendsAvailable).toContain(d.split(':')[0]);
    for (const b of info.backendsCompiled.filter((x) => x !== 'cpu')) {
      const why = info.backendsUnavailable.find((u) => u.startsWith(`${b}: `));
      expect(info.backendsAvailable.includes(b) !== (why !== undefined)).toBe(true);
    }
  });

  it('reports the CPU features /proc/cpuinfo lists', (ctx) => {
    skipIfReason(ctx, existsSync('/proc/cpuinfo') ? undefined : 'no /proc/cpuinfo on this system');
    const flagLine = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    const flags = new Set((flagLine ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
    const expected: string[] = [];
    const x86: [string, string][] = [
      ['sse4_2', 'sse4.2'], ['avx', 'avx'], ['avx2', 'avx2'], ['fma', 'fma'], ['f16c', 'f16c'], ['bmi2', 'bmi2'],
      ['avx512f', 'avx512f'], ['avx512bw', 'avx512bw'], ['avx512vl', 'avx512vl'], ['avx512dq', 'avx512dq'],
      ['avx512_vnni', 'avx512vnni'], ['avx512_bf16', 'avx512bf16'], ['avx_vnni', 'avxvnni'],
    ];
    const arm: [string, string][] = [['asimd', 'neon'], ['asimddp', 'dotprod'], ['i8mm', 'i8mm'], ['sve', 'sve']];
    for (const [flag, name] of process.arch === 'x64' ? x86 : arm) if (flags.has(flag)) expected.push(name);
    if (process.arch === 'arm64' && flags.has('fphp') && flags.has('asimdhp')) expected.push('fp16');
    expect([...info.cpuFeatures].sort()).toEqual(expected.sort());
  });

  it('picks the best kernels the CPU runs (or the forced ones)', () => {
    const f = new Set(info.cpuFeatures);
    const forced = process.env.PETREL_CPU_KERNELS;
    let best = 'generic';
    if (['avx2', 'fma', 'f16c', 'bmi2'].every((x) => f.has(x))) best = 'avx2';
    if (best === 'avx2' && ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512vnni'].every((x) => f.has(x))) best = 'avx512';
    if (f.has('neon') && f.has('dotprod')) best = 'neon';
    expect(info.cpuKernels).toBe(forced || best);
  });
});
