// `petrel quantize <hf-folder> …`: a synthetic Qwen3.5 / Qwen3.5-MoE checkpoint (BF16 + F32
// safetensors in two shards, 4 k heads / 8 v heads, fused experts, an MTP block, a vision tensor)
// converted to GGUF gives (1) in petrel's engine the logits of a float64 forward of the original
// checkpoint, (2) in llama.cpp the logits petrel gives, (3) the same token ids in both tokenizers.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planConversion } from '../../src/convert/index.js';
import { loadModel } from '../../src/engine/index.js';
import { loadNative } from '../../src/native/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { Tokenizer } from '../../src/tokenizer/Tokenizer.js';
import { klDivergence, logSoftmax, openOracle } from '../support/llamaOracle.js';
import { makeTempDir } from '../synth/helpers.js';
import { TEMPLATE, writeFixture, type HfFixture } from './fixture.js';
import { hfReferenceLogits } from './hfReference.js';

const tmp = makeTempDir('petrel-convert-');
afterAll(() => tmp.cleanup());

let dense: HfFixture;
let moe: HfFixture;
beforeAll(() => {
  dense = writeFixture(path.join(tmp.dir, 'Qwen3.5-dense'), { moe: false, tied: false, mtp: true, template: 'jinja' }, 11);
  moe = writeFixture(path.join(tmp.dir, 'Qwen3.5-moe'), { moe: true, tied: true, mtp: false, template: 'tokenizer_config' }, 12);
});

const PROMPT = [5, 300, 17, 42, 255, 100, 7, 480, 3, 64, 128, 9];
// Bounds: four times the largest value measured over the dense and MoE checkpoints with every kernel
// table (PETREL_CPU_KERNELS=generic, avx2, avx512), rounded up, so float32 round-off in another
// summation order passes and an error beyond it does not.
/** petrel f32 against the float64 checkpoint forward: max |Δlogit| / max |logit|. */
const REF_MAX_REL = 4e-6;
/** petrel against llama.cpp, f32 file: mean KL and max |Δlogit|. */
const F32_MEAN_KL = 1e-11;
const F32_MAX_DLOGIT = 4e-4;
/** petrel against llama.cpp, q8_0 file (llama.cpp rounds activations to 8 bits; petrel need not): mean KL. */
const Q8_MEAN_KL = 2e-4;

async function convert(f: HfFixture, type: string): Promise<string> {
  const out = path.join(tmp.dir, `${path.basename(f.dir)}-${type}.gguf`);
  await quantizeGguf({ input: f.dir, output: out, type, threads: 2, force: true });
  return out;
}

async function petrelLogits(file: string, tokens: number[]): Promise<{ nVocab: number; logits: Float32Array }> {
  const model = await loadModel(file, { threads: 2 });
  try {
    const session = model.createSession({ contextLength: 64, kvCacheType: 'f32' });
    const logits = (await session.evaluate(tokens, { logits: 'all' }))!;
    session.dispose();
    return { nVocab: model.info.nVocab, logits };
  } finally {
    model.dispose();
  }
}

describe('the conversion plan', () => {
  it('names, shapes, stored types and keys as convert_hf_to_gguf.py writes them', () => {
    const plan = planConversion(dense.dir, 'f16');
    const byName = new Map(plan.tensors.map((t) => [t.name, t]));
    const kv = new Map(plan.metadata.map((k) => [k.key, k.value]));
    expect(kv.get('general.architecture')).toBe('qwen35');
    expect(kv.get('qwen35.block_count')).toBe(5);
    expect(kv.get('qwen35.nextn_predict_layers')).toBe(1);
    expect(kv.get('qwen35.ssm.group_count')).toBe(4);
    expect(kv.get('qwen35.ssm.time_step_rank')).toBe(8);
    expect(kv.get('qwen35.ssm.inner_size')).toBe(256);
    expect(kv.get('qwen35.rope.dimension_count')).toBe(16);
    expect(kv.get('qwen35.rope.dimension_sections')).toEqual([3, 3, 2, 0]);
    expect(kv.get('qwen35.full_attention_interval')).toBe(2);
    expect(kv.get('tokenizer.ggml.pre')).toBe('qwen35');
    expect(kv.get('tokenizer.chat_template')).toBe(TEMPLATE);
    expect(byName.get('blk.0.attn_qkv.weight')).toMatchObject({ shape: [256, 512], type: 1 });
    expect(byName.get('blk.0.ssm_conv1d.weight')).toMatchObject({ shape: [4, 512], type: 0 });
    expect(byName.get('blk.0.ssm_a')).toMatchObject({ shape: [8], type: 0, op: 'neg_exp' });
    expect(byName.get('blk.0.ssm_norm.weight')).toMatchObject({ op: 'none', type: 0 });
    expect(byName.get('blk.0.attn_norm.weight')).toMatchObject({ op: 'add_one', type: 0 });
    expect(byName.get('blk.1.attn_q.weight')).toMatchObject({ shape: [256, 256] });
    expect(byName.get('blk.4.nextn.eh_proj.weight')).toMatchObject({ shape: [512, 256] });
    expect(byName.has('output.weight')).toBe(true);
    expect([...byName.keys()].some((n) => n.includes('visual'))).toBe(false);

    const m = planConversion(moe.dir, 'q8_0');
    const mn = new Map(m.tensors.map((t) => [t.name, t]));
    expect(mn.get('blk.0.ffn_gate_exps.weight')).toMatchObject({ shape: [256, 256, 4], type: 30 });
    expect(mn.get('blk.0.ffn_down_exps.weight')).toMatchObject({ shape: [256, 256, 4] });
    expect(mn.get('blk.0.ffn_gate_inp.weight')).toMatchObject({ shape: [256, 4], type: 0 });
    expect(mn.get('blk.0.ffn_gate_inp_shexp.weight')).toMatchObject({ shape: [256], type: 0 });
    expect(mn.has('output.weight')).toBe(false);
    expect(new Map(m.metadata.map((k) => [k.key, k.value])).get('qwen35moe.expert_shared_feed_forward_length')).toBe(256);
  });
});

describe('converted f32: petrel engine vs a float64 forward of the original checkpoint', () => {
  for (const which of ['dense', 'moe'] as const) {
    it(which, { timeout: 120_000 }, async () => {
      const f = which === 'dense' ? dense : moe;
      const file = await convert(f, 'f32');
      const { nVocab, logits } = await petrelLogits(file, PROMPT);
      const ref = hfReferenceLogits(f.tensors, f.text, PROMPT);
      let maxDiff = 0;
      let maxRef = 0;
      for (let t = 0; t < PROMPT.length; t++) {
        for (let v = 0; v < nVocab; v++) {
          maxDiff = Math.max(maxDiff, Math.abs(logits[t * nVocab + v]! - ref[t]![v]!));
          maxRef = Math.max(maxRef, Math.abs(ref[t]![v]!));
        }
      }
      expect(maxRef).toBeGreaterThan(1);
      console.log(`${which} f32 vs float64 checkpoint forward: max |Δlogit| / max |logit| ${(maxDiff / maxRef).toExponential(2)}`);
      expect(maxDiff / maxRef, `${which}: max |Δ| ${maxDiff} of ${maxRef}`).toBeLessThan(REF_MAX_REL);
    });
  }
});

describe('llama.cpp on the converted files gives the logits petrel gives', () => {
  for (const which of ['dense', 'moe'] as const) {
    for (const type of ['f32', 'q8_0']) {
      it(`${which} ${type}`, { timeout: 120_000 }, async () => {
        const f = which === 'dense' ? dense : moe;
        const file = await convert(f, type);
        const ours = await petrelLogits(file, PROMPT);
        const oracle = await openOracle(file, { threads: 2 });
        try {
          expect(oracle.nVocab).toBe(ours.nVocab);
          const theirs = await oracle.logits(PROMPT);
          let kl = 0;
          let maxDiff = 0;
          for (let t = 0; t < PROMPT.length; t++) {
            const o = ours.logits.subarray(t * ours.nVocab, (t + 1) * ours.nVocab);
            kl += klDivergence(logSoftmax(theirs[t]!), logSoftmax(o));
            for (let v = 0; v < ours.nVocab; v++) maxDiff = Math.max(maxDiff, Math.abs(o[v]! - theirs[t]![v]!));
          }
          console.log(`${which} ${type} vs llama.cpp: mean KL ${(kl / PROMPT.length).toExponential(2)}, max |Δlogit| ${maxDiff.toExponential(2)}`);
          expect(kl / PROMPT.length, `${which} ${type} mean KL`).toBeLessThan(type === 'f32' ? F32_MEAN_KL : Q8_MEAN_KL);
          if (type === 'f32') expect(maxDiff).toBeLessThan(F32_MAX_DLOGIT);
        } finally {
          await oracle.dispose();
        }
      });
    }
  }
});

describe('tokenizer round trip', () => {
  it("petrel's tokenizer on the converted file gives llama.cpp's ids", { timeout: 60_000 }, async () => {
    const file = await convert(moe, 'q8_0');
    const ours = Tokenizer.fromGgufFile(file);
    const oracle = await openOracle(file, { threads: 1 });
    try {
      const texts = [
        'Hello world, the quick brown fox.',
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
        '  spaces\tand\nnewlines 12345 ünïcödé',
      ];
      for (const text of texts) {
        const theirs = [...oracle.model.tokenize(text, true)].map(Number);
        expect(ours.encode(text, { parseSpecial: true, normalize: false }), JSON.stringify(text)).toEqual(theirs);
      }
      const imStart = ours.tokenId('<|im_start|>');
      expect(ours.encode('<|im_start|>user', { parseSpecial: true })[0]).toBe(imStart);
      const meta = new Map(loadNative().openGguf(file).metadata().map((k) => [k.key, k.value]));
      expect(meta.get('tokenizer.ggml.eos_token_id')).toBe(ours.tokenId('<|im_end|>'));
      expect(meta.get('tokenizer.ggml.padding_token_id')).toBe(ours.tokenId('<|endoftext|>'));
      expect(meta.get('tokenizer.ggml.add_bos_token')).toBe(false);
      const types = meta.get('tokenizer.ggml.token_type') as number[];
      const tokens = meta.get('tokenizer.ggml.tokens') as string[];
      expect(types[tokens.indexOf('<|im_start|>')]).toBe(3);
      expect(types[tokens.indexOf('<think>')]).toBe(4);
      expect(tokens.length).toBe(520);  // config vocab_size: ids the tokenizer leaves out become [PAD<id>]
      expect(tokens[519]).toBe('[PAD519]');
      expect(types[519]).toBe(5);
    } finally {
      await oracle.dispose();
    }
  });
});

describe('quantized straight from the checkpoint', () => {
  it('q4_k_m: K-quants on the 256-wide rows, llama.cpp type rules, petrel close to the f32 file', { timeout: 120_000 }, async () => {
    const file = await convert(dense, 'q4_k_m');
    const g = loadNative().openGguf(file);
    const types = new Map(g.tensors().map((t) => [t.name, t.typeName]));
    expect(String(types.get('blk.0.attn_qkv.weight')).toLowerCase()).toMatch(/q[46]_k/);
    expect(String(types.get('blk.0.ffn_gate.weight')).toLowerCase()).toBe('q4_k');
    expect(String(types.get('output.weight')).toLowerCase()).toBe('q6_k');
    expect(String(types.get('blk.0.ssm_conv1d.weight')).toLowerCase()).toBe('f32');
    const q = await petrelLogits(file, PROMPT);
    const f = await petrelLogits(await convert(dense, 'f32'), PROMPT);
    let kl = 0;
    for (let t = 0; t < PROMPT.length; t++) {
      const n = q.nVocab;
      kl += klDivergence(logSoftmax(f.logits.subarray(t * n, (t + 1) * n)), logSoftmax(q.logits.subarray(t * n, (t + 1) * n)));
    }
    expect(kl / PROMPT.length).toBeLessThan(0.2);
  });
});
