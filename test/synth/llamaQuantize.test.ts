// GGUFs written by llama.cpp's tools read in petrel: llama_model_quantize turns a petrel-written
// F32 model into Q8_0 and Q4_K_M; petrel's reader sees the metadata unchanged, the types
// llama.cpp chose, and values that dequantize close to the originals.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, type GgufKv, type NativeGguf } from '../../src/native/index.js';
import { synthesize } from '../../src/synth/index.js';
import { LlamaFtype, llamaQuantize } from '../support/llamaQuantize.js';
import { makeTempDir } from './helpers.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

const T = { F32: 0, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14 } as const;
/** Relative RMSE of dequantized vs original values, per type, for N(0, σ) weights. */
const MAX_REL_RMSE: Record<number, number> = {
  [T.Q8_0]: 0.01,
  [T.Q6_K]: 0.04,
  [T.Q5_K]: 0.06,
  [T.Q5_0]: 0.06,
  [T.Q5_1]: 0.06,
  [T.Q4_K]: 0.12,
};

function open(file: string): NativeGguf {
  return loadNative().openGguf(file);
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

const keepsF32 = (name: string, dims: number) =>
  dims === 1 || name.endsWith('_norm.weight') || name.includes('ssm_conv1d') || name.endsWith('ffn_gate_inp.weight');

describe('llama.cpp-quantized petrel models read in petrel', () => {
  for (const preset of ['tiny', 'tiny-moe']) {
    for (const [label, ftype] of [['Q8_0', LlamaFtype.MOSTLY_Q8_0], ['Q4_K_M', LlamaFtype.MOSTLY_Q4_K_M]] as const) {
      it(`${preset} → ${label}`, async () => {
        const src = path.join(tmp.dir, `${preset}-f32.gguf`);
        const dst = path.join(tmp.dir, `${preset}-${label}.gguf`);
        await synthesize(preset, src, { type: 'f32', seed: 6 });
        llamaQuantize(src, dst, ftype);

        const a = open(src);
        const b = open(dst);
        try {
          const before = new Map(a.metadata().map((kv) => [kv.key, kv]));
          const after = new Map(b.metadata().map((kv) => [kv.key, kv]));
          expect(after.get('general.file_type')?.value).toBe(ftype);
          expect(after.get('general.quantization_version')?.value).toBe(2);
          for (const [key, kv] of before) {
            if (key === 'general.file_type') continue;
            expect(stripFloat(after.get(key)), key).toEqual(stripFloat(kv));
          }

          const srcTensors = new Map(a.tensors().map((t) => [t.name, t]));
          const seen = new Set<number>();
          for (const t of b.tensors()) {
            const orig = srcTensors.get(t.name)!;
            expect(t.shape, t.name).toEqual(orig.shape);
            seen.add(t.type);
            if (keepsF32(t.name, t.shape.length)) {
              expect(t.type, t.name).toBe(T.F32);
              expect(b.dequantize(t.name), t.name).toEqual(a.dequantize(t.name));
              continue;
            }
            const limit = MAX_REL_RMSE[t.type];
            expect(limit, `${t.name}: unexpected type ${t.typeName}`).toBeDefined();
            if (ftype === LlamaFtype.MOSTLY_Q8_0) expect(t.type, t.name).toBe(T.Q8_0);
            expect(relRmse(b.dequantize(t.name), a.dequantize(t.name)), `${t.name} (${t.typeName})`).toBeLessThan(limit!);
          }
          if (ftype === LlamaFtype.MOSTLY_Q4_K_M) {
            expect(seen.has(T.Q4_K)).toBe(true);
            expect(seen.has(T.Q6_K)).toBe(true);
          }
        } finally {
          a.close();
          b.close();
        }
      });
    }
  }
});

/** f32 metadata compares by value after a float32 round trip. */
function stripFloat(kv: GgufKv | undefined): unknown {
  if (!kv) return undefined;
  return kv.type === 'f32' ? { ...kv, value: Math.fround(kv.value as number) } : kv;
}
