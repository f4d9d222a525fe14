// petrel quantize against llama.cpp's own quantizer (llama_model_quantize from node-llama-cpp's
// libllama) on the same synthetic models: for every quantization type the output file is byte for
// byte the file llama.cpp writes — metadata, tensor order, the type chosen for each tensor
// (Q4_K_M's attn_v/attn_qkv/ffn_down "more bits" layers, Q6_K output, tied embeddings, the
// 8-expert rules, Q5_0/Q5_1/Q8_0 fallbacks for 128-wide rows) and every quantized byte, so the
// quantization error equals ggml_quantize_chunk's on every tensor.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNative, type NativeGguf } from '../../src/native/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { synthesize } from '../../src/synth/index.js';
import { makeTempDir } from '../synth/helpers.js';
import { llamaQuantize } from '../support/llamaQuantize.js';

/** petrel's type names and llama.cpp's llama_ftype numbers. */
const FTYPES: Record<string, number> = {
  q4_0: 2, q4_1: 3, q5_0: 8, q5_1: 9, q8_0: 7, q2_k: 10, q3_k_s: 11, q3_k_m: 12, q3_k_l: 13,
  q4_k_s: 14, q4_k_m: 15, q5_k_s: 16, q5_k_m: 17, q6_k: 18, iq4_nl: 25, iq4_xs: 30, f16: 1, bf16: 32,
};

const tmp = makeTempDir('petrel-quantize-');
afterAll(() => tmp.cleanup());

function open(file: string): NativeGguf {
  return loadNative().openGguf(file);
}

/** name -> type name, for messages that say which tensor differs. */
function typeTable(file: string): Record<string, string> {
  const g = open(file);
  try {
    return Object.fromEntries(g.tensors().map((t) => [t.name, t.typeName]));
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

async function both(src: string, type: string, tag: string): Promise<{ ours: string; theirs: string }> {
  const ours = path.join(tmp.dir, `${tag}-${type}-petrel.gguf`);
  const theirs = path.join(tmp.dir, `${tag}-${type}-llama.gguf`);
  await quantizeGguf({ input: src, output: ours, type, threads: 2 });
  llamaQuantize(src, theirs, FTYPES[type]!, { allowRequantize: true });
  return { ours, theirs };
}

describe('every type on the dense tiny model (tied embeddings), F16 input', () => {
  let src: string;
  beforeAll(async () => {
    src = path.join(tmp.dir, 'tiny-f16.gguf');
    await synthesize('tiny', src, { type: 'f16', seed: 21 });
  });

  for (const type of Object.keys(FTYPES)) {
    it(`${type}: the same file as llama-quantize`, async () => {
      const { ours, theirs } = await both(src, type, 'tiny');
      expect(typeTable(ours)).toEqual(typeTable(theirs));
      expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    });
  }
});

describe('Q4_K_M type choices, tensor by tensor', () => {
  for (const [preset, input] of [['tiny-moe', 'f32'], ['tiny-r3', 'bf16']] as const) {
    it(`${preset} (${input} input)`, async () => {
      const src = path.join(tmp.dir, `${preset}-${input}.gguf`);
      await synthesize(preset, src, { type: input, seed: 22 });
      const { ours, theirs } = await both(src, 'q4_k_m', preset);
      const types = typeTable(ours);
      expect(types).toEqual(typeTable(theirs));
      // The rules are really exercised: more-bits layers, fallbacks, F32 small tensors.
      const used = new Set(Object.values(types));
      for (const t of ['q4_K', 'q6_K', 'f32']) expect(used).toContain(t);
      if (preset === 'tiny-moe') {
        // 8 experts: attn_v/attn_qkv and attn_k go to Q8_0, attn_output to Q5_K; 128-wide rows fall back.
        expect(types['blk.3.attn_v.weight']).toBe('q8_0');
        expect(types['blk.0.attn_qkv.weight']).toBe('q8_0');
        expect(types['blk.3.attn_output.weight']).toBe('q5_K');
        expect(types['blk.0.ffn_down_exps.weight']).toMatch(/^q(5_0|8_0)$/);
        expect(types['blk.0.ffn_gate_inp.weight']).toBe('f32');
      } else {
        expect(types['output.weight']).toBe('q6_K');
        expect(types['token_embd.weight']).toBe('q4_K');
        expect(types['blk.0.ssm_conv1d.weight']).toBe('f32');
      }
      expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    });
  }
});

describe('re-quantization from Q8_0 and quantization error', () => {
  it('q8_0 -> q4_k_m matches llama.cpp (allow_requantize)', async () => {
    const src = path.join(tmp.dir, 'tiny-moe-q8_0.gguf');
    await synthesize('tiny-moe', src, { type: 'q8_0', seed: 23 });
    const { ours, theirs } = await both(src, 'q4_k_m', 'tiny-moe-rq');
    expect(typeTable(ours)).toEqual(typeTable(theirs));
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
  });

  it('RMSE against the original weights is no worse than llama.cpp on every tensor', async () => {
    const src = path.join(tmp.dir, 'tiny-r3-f32.gguf');
    await synthesize('tiny-r3', src, { type: 'f32', seed: 24 });
    for (const type of ['q4_0', 'q2_k', 'q4_k_m', 'iq4_xs']) {
      const { ours, theirs } = await both(src, type, 'tiny-r3-rmse');
      const [o, a, b] = [open(src), open(ours), open(theirs)];
      try {
        for (const t of a.tensors()) {
          if (t.typeName === 'f32') continue;
          const orig = o.dequantize(t.name);
          const mine = relRmse(a.dequantize(t.name), orig);
          const ref = relRmse(b.dequantize(t.name), orig);
          expect(mine, `${type} ${t.name} (${t.typeName})`).toBeLessThanOrEqual(ref);
          expect(mine).toBeLessThan(0.5);
        }
      } finally {
        o.close();
        a.close();
        b.close();
      }
    }
  });
});
