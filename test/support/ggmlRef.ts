// llama.cpp's own tensor-format code as an oracle: a small koffi wrapper around the prebuilt
// libggml-base that node-llama-cpp ships (the ggml of llama.cpp release v0.5.0, see
// node_modules/node-llama-cpp/llama/llama.cpp.info.json). Gives the type traits (block sizes,
// to_float) and ggml_quantize_chunk, plus the few exported row functions that the traits lack
// (Q8_K has no to_float / from_float_ref entry).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import koffi from 'koffi';

/** ggml_type_traits from ggml.h (v0.5.0). */
const TypeTraits = koffi.struct('ggml_type_traits', {
  type_name: 'const char *',
  blck_size: 'int64_t',
  blck_size_interleave: 'int64_t',
  type_size: 'size_t',
  is_quantized: 'bool',
  to_float: 'void *',
  from_float_ref: 'void *',
});
const ToFloat = koffi.proto('void ggml_to_float_t(const void *x, float *y, int64_t k)');

/** GGML_TYPE_COUNT of that release; ids at or above it are not ggml types. */
export const GGML_TYPE_COUNT = 43;

export interface GgmlTraits {
  name: string;
  blockSize: number;
  typeSize: number;
  isQuantized: boolean;
  hasToFloat: boolean;
}

export interface GgmlRef {
  /** The traits of ggml type `id` (blockSize 0 for removed ids). */
  traits(id: number): GgmlTraits;
  /** ggml's to_float for the type (Q8_K: dequantize_row_q8_K). */
  dequantize(id: number, data: Uint8Array, n: number): Float32Array;
  /** ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, imatrix); no imatrix: NULL. */
  quantizeChunk(id: number, src: Float32Array, nrows: number, nPerRow: number, imatrix?: Float32Array): Uint8Array;
  /** quantize_row_q8_K_ref (Q8_K is not in ggml_quantize_chunk); dst starts zeroed. */
  quantizeRowQ8K(src: Float32Array): Uint8Array;
}

type NativeFn = (...args: unknown[]) => unknown;

/**
 * Path of libggml-base in node-llama-cpp's prebuilt binaries, or why this platform has none wired
 * up. node-llama-cpp is a dev dependency, so a missing library on a wired platform is an error
 * (a broken install), not a reason to skip the comparisons.
 */
export function ggmlBaseLibrary(): { path: string } | { unsupported: string } {
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== 'linux-x64' && platform !== 'linux-arm64') {
    return { unsupported: `no prebuilt libggml-base for ${platform} (only linux-x64 and linux-arm64 are wired up)` };
  }
  let entry: string;
  try {
    const fromNlc = createRequire(createRequire(import.meta.url).resolve('node-llama-cpp'));
    entry = fromNlc.resolve(`@node-llama-cpp/${platform}`); // <pkg>/dist/index.js
  } catch (err) {
    throw new Error(`@node-llama-cpp/${platform} is not installed (${(err as Error).message}); it comes with the dev dependency node-llama-cpp: run npm ci`);
  }
  const file = path.join(path.dirname(entry), '..', 'bins', platform, 'libggml-base.so');
  if (!existsSync(file)) throw new Error(`${file} is missing; it comes with the dev dependency node-llama-cpp: run npm ci`);
  return { path: file };
}

let cached: GgmlRef | undefined;

export function loadGgmlRef(file: string): GgmlRef {
  if (cached) return cached;
  const lib = koffi.load(file);
  const getTraits = lib.func('const ggml_type_traits *ggml_get_type_traits(int type)') as NativeFn;
  const quantizeChunk = lib.func(
    'size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)',
  ) as NativeFn;
  const dequantizeQ8K = lib.func('void dequantize_row_q8_K(const void *x, float *y, int64_t k)') as NativeFn;
  const quantizeQ8K = lib.func('void quantize_row_q8_K_ref(const float *x, void *y, int64_t k)') as NativeFn;

  const rawTraits = (id: number) => koffi.decode(getTraits(id), TypeTraits) as Record<string, unknown>;
  const traits = (id: number): GgmlTraits => {
    const t = rawTraits(id);
    return {
      name: String(t.type_name),
      blockSize: Number(t.blck_size),
      typeSize: Number(t.type_size),
      isQuantized: Boolean(t.is_quantized),
      hasToFloat: t.to_float !== null || id === 15,
    };
  };

  cached = {
    traits,
    dequantize(id, data, n) {
      const out = new Float32Array(n);
      if (id === 15) {
        dequantizeQ8K(data, out, n);
        return out;
      }
      const fn = rawTraits(id).to_float;
      if (fn === null) throw new Error(`ggml has no to_float for type ${id}`);
      koffi.call(fn, ToFloat, data, out, n);
      return out;
    },
    quantizeChunk(id, src, nrows, nPerRow, imatrix) {
      const t = traits(id);
      const dst = new Uint8Array((nrows * nPerRow * t.typeSize) / t.blockSize);
      const written = Number(quantizeChunk(id, src, dst, 0, nrows, nPerRow, imatrix ?? null));
      if (written !== dst.length) throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${dst.length}`);
      return dst;
    },
    quantizeRowQ8K(src) {
      const dst = new Uint8Array((src.length / 256) * 292);
      quantizeQ8K(src, dst, src.length);
      return dst;
    },
  };
  return cached;
}
