// Qwen3-Next (fused in_proj_qkvz / in_proj_ba, per-expert tensors, shared expert), Qwen3 and
// Qwen3-MoE checkpoints (text-only *ForCausalLM layouts, no zero-centred norms): the converted f32
// file loads in petrel and llama.cpp, both give the same logits, and the keys are the expected ones.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planConversion } from '../../src/convert/index.js';
import { loadModel } from '../../src/engine/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { klDivergence, logSoftmax, openOracle } from '../support/llamaOracle.js';
import { makeTempDir } from '../synth/helpers.js';
import { tensorMaker, writeCheckpoint } from './fixture.js';

const tmp = makeTempDir('petrel-convert-archs-');
afterAll(() => tmp.cleanup());

const H = 256;
const VOCAB = 512;
// petrel against llama.cpp on the converted f32 files: four times the largest mean KL and max |Δlogit|
// measured over the three archs with every kernel table (PETREL_CPU_KERNELS=generic, avx2, avx512),
// rounded up, so float32 round-off in another summation order passes and an error beyond it does not.
const MEAN_KL = 7e-12;
const MAX_DLOGIT = 3e-5;

function checkpoint(arch: 'qwen3next' | 'qwen3' | 'qwen3moe', seed: number): string {
  const { out, add, normal, w } = tensorMaker(seed);
  const nHead = 2, nKv = 1, hd = 64, layers = 4, E = 4, I = 256, ff = 512;
  const Hk = 2, Hv = 4, dk = 32, K = 4, r = Hv / Hk;
  const zc = arch === 'qwen3next';
  const norm = (name: string, n: number) => add(name, [n], 'BF16', zc ? normal(0, 0.1) : normal(1, 0.1));
  add('model.embed_tokens.weight', [VOCAB, H], 'BF16', normal(0, 1));
  for (let il = 0; il < layers; il++) {
    const p = `model.layers.${il}.`;
    norm(`${p}input_layernorm.weight`, H);
    norm(`${p}post_attention_layernorm.weight`, H);
    if (arch === 'qwen3next' && (il + 1) % 2 !== 0) {
      const la = `${p}linear_attn.`;
      w(`${la}in_proj_qkvz.weight`, [Hk * (2 * dk + 2 * r * dk), H]);
      w(`${la}in_proj_ba.weight`, [2 * Hv, H]);
      add(`${la}conv1d.weight`, [2 * Hk * dk + Hv * dk, 1, K], 'BF16', normal(0, 0.5));
      add(`${la}dt_bias`, [Hv], 'BF16', normal(-1, 0.5));
      add(`${la}A_log`, [Hv], 'F32', normal(-1, 0.5));
      add(`${la}norm.weight`, [dk], 'F32', normal(1, 0.1));
      w(`${la}out_proj.weight`, [H, Hv * dk], 0.5);
    } else {
      const gated = arch === 'qwen3next' ? 2 : 1;
      w(`${p}self_attn.q_proj.weight`, [gated * nHead * hd, H]);
      w(`${p}self_attn.k_proj.weight`, [nKv * hd, H]);
      w(`${p}self_attn.v_proj.weight`, [nKv * hd, H]);
      w(`${p}self_attn.o_proj.weight`, [H, nHead * hd], 0.5);
      norm(`${p}self_attn.q_norm.weight`, hd);
      norm(`${p}self_attn.k_norm.weight`, hd);
    }
    if (arch === 'qwen3') {
      w(`${p}mlp.gate_proj.weight`, [ff, H]);
      w(`${p}mlp.up_proj.weight`, [ff, H]);
      w(`${p}mlp.down_proj.weight`, [H, ff], 0.5);
    } else {
      add(`${p}mlp.gate.weight`, [E, H], 'BF16', normal(0, 1 / Math.sqrt(H)));
      for (let e = 0; e < E; e++) {
        w(`${p}mlp.experts.${e}.gate_proj.weight`, [I, H]);
        w(`${p}mlp.experts.${e}.up_proj.weight`, [I, H]);
        w(`${p}mlp.experts.${e}.down_proj.weight`, [H, I], 0.5);
      }
      if (arch === 'qwen3next') {
        w(`${p}mlp.shared_expert.gate_proj.weight`, [I, H]);
        w(`${p}mlp.shared_expert.up_proj.weight`, [I, H]);
        w(`${p}mlp.shared_expert.down_proj.weight`, [H, I], 0.5);
        w(`${p}mlp.shared_expert_gate.weight`, [1, H]);
      }
    }
  }
  norm('model.norm.weight', H);
  add('lm_head.weight', [VOCAB, H], 'BF16', normal(0, 2.5 / Math.sqrt(H)));
  const config: Record<string, unknown> = {
    architectures: [{ qwen3next: 'Qwen3NextForCausalLM', qwen3: 'Qwen3ForCausalLM', qwen3moe: 'Qwen3MoeForCausalLM' }[arch]],
    hidden_size: H, num_hidden_layers: layers, num_attention_heads: nHead, num_key_value_heads: nKv, head_dim: hd,
    max_position_embeddings: 4096, rms_norm_eps: 1e-6, vocab_size: VOCAB, tie_word_embeddings: false, rope_theta: 1e6,
    intermediate_size: ff, bos_token_id: 1, eos_token_id: 2,
  };
  if (arch !== 'qwen3') Object.assign(config, { num_experts: E, num_experts_per_tok: 2, moe_intermediate_size: I, norm_topk_prob: true });
  if (arch === 'qwen3next') {
    Object.assign(config, {
      shared_expert_intermediate_size: I, full_attention_interval: 2, partial_rotary_factor: 0.25,
      linear_num_key_heads: Hk, linear_num_value_heads: Hv, linear_key_head_dim: dk, linear_value_head_dim: dk, linear_conv_kernel_dim: K,
    });
  }
  const dir = path.join(tmp.dir, arch);
  writeCheckpoint(dir, config, out, { template: 'jinja' });
  return dir;
}

const PROMPT = [5, 300, 17, 42, 255, 100, 7, 480, 3, 64];

describe('other Qwen archs: converted f32, petrel vs llama.cpp', () => {
  for (const arch of ['qwen3next', 'qwen3', 'qwen3moe'] as const) {
    it(arch, { timeout: 120_000 }, async () => {
      const dir = checkpoint(arch, 21);
      const plan = planConversion(dir, 'f32');
      const kv = new Map(plan.metadata.map((k) => [k.key, k.value]));
      expect(kv.get('general.architecture')).toBe(arch);
      expect(kv.get('tokenizer.ggml.pre')).toBe('qwen2');
      expect(kv.get('tokenizer.ggml.bos_token_id')).toBe(1);
      const names = new Set(plan.tensors.map((t) => t.name));
      expect(names.has(arch === 'qwen3next' ? 'blk.0.ssm_ba.weight' : 'blk.0.ffn_norm.weight')).toBe(true);

      const file = path.join(tmp.dir, `${arch}.gguf`);
      await quantizeGguf({ input: dir, output: file, type: 'f32', threads: 2 });
      const model = await loadModel(file, { threads: 2 });
      const oracle = await openOracle(file, { threads: 2 });
      try {
        const n = model.info.nVocab;
        const session = model.createSession({ contextLength: 64, kvCacheType: 'f32' });
        const ours = (await session.evaluate(PROMPT, { logits: 'all' }))!;
        session.dispose();
        const theirs = await oracle.logits(PROMPT);
        let kl = 0;
        let maxDiff = 0;
        for (let t = 0; t < PROMPT.length; t++) {
          const o = ours.subarray(t * n, (t + 1) * n);
          kl += klDivergence(logSoftmax(theirs[t]!), logSoftmax(o));
          for (let v = 0; v < n; v++) maxDiff = Math.max(maxDiff, Math.abs(o[v]! - theirs[t]![v]!));
        }
        console.log(`${arch} f32 vs llama.cpp: mean KL ${(kl / PROMPT.length).toExponential(2)}, max |Δlogit| ${maxDiff.toExponential(2)}`);
        expect(kl / PROMPT.length).toBeLessThan(MEAN_KL);
        expect(maxDiff).toBeLessThan(MAX_DLOGIT);
      } finally {
        model.dispose();
        await oracle.dispose();
      }
    });
  }
});
