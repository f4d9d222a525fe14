// The synthetic models have exactly the tensors, shapes, types and metadata keys that llama.cpp's
// converter writes for Qwen3.5 (docs/GGUF.md#metadata-keys, docs/GGUF.md#tensors, docs/GGUF.md#published-shapes). No addon needed.
import { describe, expect, it } from 'vitest';
import { buildSynthModel, PRESETS, resolvePreset } from '../../src/synth/index.js';
import type { GgufKv } from '../../src/native/index.js';
import { UserError } from '../../src/errors.js';

const F32 = 0;
const F16 = 1;
const Q8_0 = 8;
const BF16 = 30;

/** Per published model: [conv_dim, q_proj out (2·n_head·256), k/v out, ssm.inner_size] from the doc tables. */
const DERIVED: Record<string, [number, number, number, number]> = {
  '0.8b': [6144, 4096, 512, 2048],
  '2b': [6144, 4096, 512, 2048],
  '4b': [8192, 8192, 1024, 4096],
  '9b': [8192, 8192, 1024, 4096],
  '27b': [10240, 12288, 1024, 6144],
  '35b-a3b': [8192, 8192, 512, 4096],
  '122b-a10b': [12288, 16384, 512, 8192],
  '397b-a17b': [12288, 16384, 512, 8192],
};

/** Published table: n_layer, n_embd, n_ff | [experts, top-k, exp ff, shared ff], heads, Hv, tied. */
const PUBLISHED: Record<string, { nLayer: number; nEmbd: number; nFf?: number; moe?: [number, number, number, number]; heads: [number, number]; hv: number; tied: boolean }> = {
  '0.8b': { nLayer: 24, nEmbd: 1024, nFf: 3584, heads: [8, 2], hv: 16, tied: true },
  '2b': { nLayer: 24, nEmbd: 2048, nFf: 6144, heads: [8, 2], hv: 16, tied: true },
  '4b': { nLayer: 32, nEmbd: 2560, nFf: 9216, heads: [16, 4], hv: 32, tied: true },
  '9b': { nLayer: 32, nEmbd: 4096, nFf: 12288, heads: [16, 4], hv: 32, tied: false },
  '27b': { nLayer: 64, nEmbd: 5120, nFf: 17408, heads: [24, 4], hv: 48, tied: false },
  '35b-a3b': { nLayer: 40, nEmbd: 2048, moe: [256, 8, 512, 512], heads: [16, 2], hv: 32, tied: false },
  '122b-a10b': { nLayer: 48, nEmbd: 3072, moe: [256, 8, 1024, 1024], heads: [32, 2], hv: 64, tied: false },
  '397b-a17b': { nLayer: 60, nEmbd: 4096, moe: [512, 10, 1024, 1024], heads: [32, 2], hv: 64, tied: false },
};

function kvMap(kvs: GgufKv[]): Map<string, GgufKv> {
  return new Map(kvs.map((kv) => [kv.key, kv]));
}

function commonKeys(arch: string): string[] {
  return [
    'general.architecture', 'general.type', 'general.name', 'general.size_label', 'general.file_type',
    'general.quantization_version',
    `${arch}.block_count`, `${arch}.context_length`, `${arch}.embedding_length`,
    `${arch}.attention.head_count`, `${arch}.attention.head_count_kv`, `${arch}.attention.key_length`,
    `${arch}.attention.value_length`, `${arch}.attention.layer_norm_rms_epsilon`,
    `${arch}.rope.freq_base`, `${arch}.rope.dimension_count`, `${arch}.rope.dimension_sections`,
    `${arch}.ssm.conv_kernel`, `${arch}.ssm.state_size`, `${arch}.ssm.group_count`, `${arch}.ssm.time_step_rank`,
    `${arch}.ssm.inner_size`, `${arch}.full_attention_interval`,
    'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.tokens', 'tokenizer.ggml.token_type',
    'tokenizer.ggml.merges', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.padding_token_id',
    'tokenizer.ggml.add_bos_token', 'tokenizer.chat_template',
  ];
}

const DENSE_KEYS = (a: string) => [...commonKeys(a), `${a}.feed_forward_length`];
const MOE_KEYS = (a: string) => [
  ...commonKeys(a), `${a}.expert_count`, `${a}.expert_used_count`, `${a}.expert_feed_forward_length`,
  `${a}.expert_shared_feed_forward_length`,
];

describe('published configurations', () => {
  for (const [name, pub] of Object.entries(PUBLISHED)) {
    it(`${name} matches the published table`, () => {
      const p = resolvePreset(name);
      expect(p.nLayer).toBe(pub.nLayer);
      expect(p.nEmbd).toBe(pub.nEmbd);
      expect(p.nFf).toBe(pub.nFf);
      expect(p.moe && [p.moe.nExpert, p.moe.nExpertUsed, p.moe.nFfExp, p.moe.nFfShexp]).toEqual(pub.moe);
      expect([p.nHead, p.nHeadKv]).toEqual(pub.heads);
      expect([p.ssmGroups, p.ssmVHeads, p.ssmState, p.ssmConv]).toEqual([16, pub.hv, 128, 4]);
      expect([p.headDim, p.nRot, p.ropeFreqBase, p.rmsEps, p.contextLength]).toEqual([256, 64, 1e7, 1e-6, 262144]);
      expect(p.ropeSections).toEqual([11, 11, 10, 0]);
      expect(p.fullAttentionInterval).toBe(4);
      expect(p.tiedOutput).toBe(pub.tied);
      expect(p.arch).toBe(pub.moe ? 'qwen35moe' : 'qwen35');
    });
  }
});

describe('tensors and metadata', () => {
  for (const preset of PRESETS) {
    // Full shapes: 4 blocks (3 DeltaNet + 1 attention) keep the spec small but cover both kinds.
    const layers = preset.vocab === 'tiny' ? undefined : 4;
    it(`${preset.name}: names, shapes and types as the converter writes them`, () => {
      const m = buildSynthModel(preset.name, { layers, type: 'q8_0' });
      const p = m.preset;
      const nVocab = m.vocab.tokens.length;
      const byName = new Map(m.tensors.map((t) => [t.name, t]));
      expect(byName.size).toBe(m.tensors.length);
      const shape = (n: string) => byName.get(n)?.shape;
      const type = (n: string) => byName.get(n)?.type;

      const keyDim = p.ssmGroups * p.ssmState;
      const valueDim = p.ssmVHeads * p.ssmState;
      const convDim = 2 * keyDim + valueDim;
      if (DERIVED[p.name]) {
        const [conv, qOut, kvOut, inner] = DERIVED[p.name]!;
        expect([convDim, 2 * p.nHead * p.headDim, p.nHeadKv * p.headDim, valueDim]).toEqual([conv, qOut, kvOut, inner]);
      }

      expect(shape('token_embd.weight')).toEqual([p.nEmbd, nVocab]);
      expect(shape('output_norm.weight')).toEqual([p.nEmbd]);
      expect(byName.has('output.weight')).toBe(!p.tiedOutput);
      if (!p.tiedOutput) expect(shape('output.weight')).toEqual([p.nEmbd, nVocab]);

      const expected: string[] = ['token_embd.weight'];
      for (let il = 0; il < p.nLayer; il++) {
        const b = `blk.${il}.`;
        const attention = (il + 1) % 4 === 0;
        expected.push(`${b}attn_norm.weight`);
        if (attention) {
          expected.push(...['attn_q', 'attn_k', 'attn_v', 'attn_output', 'attn_q_norm', 'attn_k_norm'].map((t) => `${b}${t}.weight`));
          expect(shape(`${b}attn_q.weight`)).toEqual([p.nEmbd, 2 * p.nHead * p.headDim]);
          expect(shape(`${b}attn_k.weight`)).toEqual([p.nEmbd, p.nHeadKv * p.headDim]);
          expect(shape(`${b}attn_v.weight`)).toEqual([p.nEmbd, p.nHeadKv * p.headDim]);
          expect(shape(`${b}attn_output.weight`)).toEqual([p.nHead * p.headDim, p.nEmbd]);
          expect(shape(`${b}attn_q_norm.weight`)).toEqual([p.headDim]);
          expect(shape(`${b}attn_k_norm.weight`)).toEqual([p.headDim]);
        } else {
          expected.push(
            `${b}attn_qkv.weight`, `${b}attn_gate.weight`, `${b}ssm_conv1d.weight`, `${b}ssm_dt.bias`, `${b}ssm_a`,
            `${b}ssm_beta.weight`, `${b}ssm_alpha.weight`, `${b}ssm_norm.weight`, `${b}ssm_out.weight`,
          );
          expect(shape(`${b}attn_qkv.weight`)).toEqual([p.nEmbd, convDim]);
          expect(shape(`${b}attn_gate.weight`)).toEqual([p.nEmbd, valueDim]);
          expect(shape(`${b}ssm_conv1d.weight`)).toEqual([4, convDim]);
          expect(shape(`${b}ssm_dt.bias`)).toEqual([p.ssmVHeads]);
          expect(shape(`${b}ssm_a`)).toEqual([p.ssmVHeads]);
          expect(shape(`${b}ssm_beta.weight`)).toEqual([p.nEmbd, p.ssmVHeads]);
          expect(shape(`${b}ssm_alpha.weight`)).toEqual([p.nEmbd, p.ssmVHeads]);
          expect(shape(`${b}ssm_norm.weight`)).toEqual([p.ssmState]);
          expect(shape(`${b}ssm_out.weight`)).toEqual([valueDim, p.nEmbd]);
        }
        expected.push(`${b}post_attention_norm.weight`);
        if (p.moe) {
          const { nExpert: e, nFfExp: ff, nFfShexp: sh } = p.moe;
          expected.push(
            ...['ffn_gate_inp', 'ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps', 'ffn_gate_inp_shexp', 'ffn_gate_shexp',
              'ffn_up_shexp', 'ffn_down_shexp'].map((t) => `${b}${t}.weight`),
          );
          expect(shape(`${b}ffn_gate_inp.weight`)).toEqual([p.nEmbd, e]);
          expect(shape(`${b}ffn_gate_exps.weight`)).toEqual([p.nEmbd, ff, e]);
          expect(shape(`${b}ffn_up_exps.weight`)).toEqual([p.nEmbd, ff, e]);
          expect(shape(`${b}ffn_down_exps.weight`)).toEqual([ff, p.nEmbd, e]);
          expect(shape(`${b}ffn_gate_inp_shexp.weight`)).toEqual([p.nEmbd]);
          expect(shape(`${b}ffn_gate_shexp.weight`)).toEqual([p.nEmbd, sh]);
          expect(shape(`${b}ffn_up_shexp.weight`)).toEqual([p.nEmbd, sh]);
          expect(shape(`${b}ffn_down_shexp.weight`)).toEqual([sh, p.nEmbd]);
        } else {
          expected.push(`${b}ffn_gate.weight`, `${b}ffn_up.weight`, `${b}ffn_down.weight`);
          expect(shape(`${b}ffn_gate.weight`)).toEqual([p.nEmbd, p.nFf]);
          expect(shape(`${b}ffn_up.weight`)).toEqual([p.nEmbd, p.nFf]);
          expect(shape(`${b}ffn_down.weight`)).toEqual([p.nFf, p.nEmbd]);
        }
      }
      expected.push('output_norm.weight');
      if (!p.tiedOutput) expected.push('output.weight');
      expect(m.tensors.map((t) => t.name).sort()).toEqual(expected.sort());

      // F32: 1-D tensors, norms, conv, router; everything else the requested type.
      for (const t of m.tensors) {
        const keepF32 =
          t.shape.length === 1 || t.name.endsWith('_norm.weight') || t.name.includes('ssm_conv1d') ||
          t.name.endsWith('ffn_gate_inp.weight') || !t.name.endsWith('.weight');
        expect(type(t.name), t.name).toBe(keepF32 ? F32 : Q8_0);
      }
      expect(type(`blk.0.ssm_a`)).toBe(F32);
      expect(type(`blk.0.ssm_dt.bias`)).toBe(F32);

      // Value statistics encode the converter transforms: norms ≈ 1 (+1 applied), ssm_a = -exp(·).
      const init = (n: string) => byName.get(n)!.init;
      expect(init('blk.0.attn_norm.weight')).toMatchObject({ mean: 1 });
      expect(init('blk.0.ssm_norm.weight')).toMatchObject({ mean: 1 });
      expect(init('blk.0.ssm_a').transform).toBe('neg_exp');

      const kv = kvMap(m.spec.metadata);
      const a = p.arch;
      expect([...kv.keys()].sort()).toEqual((p.moe ? MOE_KEYS(a) : DENSE_KEYS(a)).sort());
      const v = (k: string) => kv.get(k)?.value;
      expect(v('general.architecture')).toBe(a);
      expect(v(`${a}.block_count`)).toBe(p.nLayer);
      expect(v(`${a}.ssm.group_count`)).toBe(p.ssmGroups);
      expect(v(`${a}.ssm.time_step_rank`)).toBe(p.ssmVHeads);
      expect(v(`${a}.ssm.inner_size`)).toBe(valueDim);
      expect(v(`${a}.full_attention_interval`)).toBe(4);
      expect(kv.get(`${a}.rope.dimension_sections`)).toMatchObject({ type: 'arr', itemType: 'i32' });
      expect(v('general.file_type')).toBe(7);
      expect(v('general.quantization_version')).toBe(2);
      expect(v('tokenizer.ggml.model')).toBe('gpt2');
      expect(v('tokenizer.ggml.pre')).toBe('qwen35');
      expect((v('tokenizer.ggml.tokens') as string[]).length).toBe(nVocab);
      expect((v('tokenizer.ggml.token_type') as number[]).length).toBe(nVocab);
      expect(v('tokenizer.ggml.add_bos_token')).toBe(false);
      expect(m.vocab.tokens[v('tokenizer.ggml.eos_token_id') as number]).toBe('<|im_end|>');
      expect(m.vocab.tokens[v('tokenizer.ggml.padding_token_id') as number]).toBe('<|endoftext|>');
      expect(v('tokenizer.chat_template')).toContain("'<|im_start|>assistant\\n'");
    });
  }

  it('full shapes use the padded 248320-token vocabulary with specials at their real ids', () => {
    const m = buildSynthModel('9b', { layers: 2 });
    expect(m.vocab.tokens.length).toBe(248320);
    expect(m.vocab.tokens[248044]).toBe('<|endoftext|>');
    expect(m.vocab.tokens[248045]).toBe('<|im_start|>');
    expect(m.vocab.tokens[248046]).toBe('<|im_end|>');
    expect(m.vocab.tokens[248068]).toBe('<think>');
    expect(m.vocab.tokens[248069]).toBe('</think>');
    expect(m.vocab.tokens[248076]).toBe('<|audio_pad|>');
    expect(m.vocab.tokens[248077]).toBe('[PAD248077]');
    expect(m.vocab.tokens[151643]).toBe('[PAD151643]');
    expect(m.vocab.tokenTypes[248045]).toBe(3);
    expect(m.vocab.tokenTypes[248058]).toBe(4); // <tool_call>
    expect(m.vocab.tokenTypes[248068]).toBe(4); // <think>
    expect(m.vocab.tokenTypes[248100]).toBe(5);
    expect(m.vocab.tokenTypes[198]).toBe(1);
    expect(new Set(m.vocab.tokens).size).toBe(248320);
  });

  it('weight types: f32, f16, bf16, q8_0 with llama_ftype numbers; 1-D stays F32', () => {
    for (const [type, ggml, ftype] of [['f32', F32, 0], ['f16', F16, 1], ['bf16', BF16, 32], ['q8_0', Q8_0, 7]] as const) {
      const m = buildSynthModel('tiny', { type });
      expect(m.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight')!.type).toBe(ggml);
      expect(m.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type).toBe(F32);
      expect(kvMap(m.spec.metadata).get('general.file_type')!.value).toBe(ftype);
    }
    expect(buildSynthModel('tiny').weightType).toBe('f32');
    expect(buildSynthModel('2b', { layers: 2 }).weightType).toBe('f16');
  });

  it('per-tensor seeds are distinct and follow the global seed', () => {
    const a = buildSynthModel('tiny-moe', { seed: 1 });
    const b = buildSynthModel('tiny-moe', { seed: 2 });
    const seeds = (m: typeof a) => m.spec.tensors.map((t) => (t.source.kind === 'random' ? t.source.seed : -1));
    expect(new Set(seeds(a)).size).toBe(a.tensors.length);
    expect(seeds(a)).toEqual(seeds(buildSynthModel('tiny-moe', { seed: 1 })));
    expect(seeds(a).every((s, i) => s !== seeds(b)[i])).toBe(true);
  });

  it('layers override keeps an attention block; bad presets and values are user errors', () => {
    const attention = (layers: number) =>
      buildSynthModel('tiny', { layers }).tensors.filter((t) => t.name.endsWith('attn_q.weight')).map((t) => t.name);
    const interval = (layers: number) =>
      kvMap(buildSynthModel('tiny', { layers }).spec.metadata).get('qwen35.full_attention_interval')!.value;
    // Fewer than 4 blocks: the interval shrinks to the block count, so the last block is attention.
    expect(attention(2)).toEqual(['blk.1.attn_q.weight']);
    expect(attention(3)).toEqual(['blk.2.attn_q.weight']);
    expect([interval(2), interval(3), interval(4), interval(9)]).toEqual([2, 3, 4, 4]);
    // llama.cpp cannot evaluate a model without both kinds of block.
    expect(() => resolvePreset('tiny', { layers: 1 })).toThrow(UserError);
    expect(attention(5)).toEqual(['blk.3.attn_q.weight']);
    expect(attention(9)).toEqual(['blk.3.attn_q.weight', 'blk.7.attn_q.weight']);
    expect(() => resolvePreset('nope')).toThrow(UserError);
    expect(() => resolvePreset('nope')).toThrow(/tiny, tiny-moe, tiny-r3, 0\.8b/);
    expect(() => resolvePreset('tiny', { layers: 0 })).toThrow(UserError);
  });

  it('reports params and sizes consistently', () => {
    const m = buildSynthModel('0.8b', { type: 'q8_0' });
    // 0.8B is "0.8B" because of the tied 248320 × 1024 embedding: ~0.75 B parameters in all.
    expect(m.nParams).toBeGreaterThan(0.7e9);
    expect(m.nParams).toBeLessThan(0.9e9);
    expect(kvMap(m.spec.metadata).get('general.size_label')!.value).toBe('752M');
  });
});
