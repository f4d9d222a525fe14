// A synthetic Hugging Face checkpoint in the real Qwen3.5 layouts (the VLM classes: text weights under
// model.language_model.*, a vision tensor to skip, an mtp.* block), written the way
// transformers/safetensors write them: BF16 weights and F32 tensors, sharded over two files with a
// model.safetensors.index.json, config.json with text_config, tokenizer.json (byte-level BPE with
// Qwen3.5's added tokens), tokenizer_config.json and/or chat_template.jinja.
// Small dims, but 256-wide rows so the K-quants apply, and more value heads than key heads (4 k, 8 v).
// The values are kept (as float32, already rounded to the stored dtype) for the reference forward.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tinyVocab } from '../../src/synth/tokenizer/tinyVocab.js';
import { TokenType } from '../../src/tokenizer/vocabulary.js';

export type Dtype = 'F32' | 'BF16' | 'F16';

export interface HfTensor {
  shape: number[];
  dtype: Dtype;
  /** The stored values (rounded to dtype). */
  data: Float32Array;
}

export interface FixtureConfig {
  moe: boolean;
  tied: boolean;
  mtp: boolean;
  /** Where the chat template goes. */
  template: 'jinja' | 'tokenizer_config';
}

export interface HfFixture {
  dir: string;
  text: Record<string, any>;
  tensors: Map<string, HfTensor>;
}

export const DIMS = {
  hidden: 256,
  layers: 4,
  interval: 2,
  heads: 2,
  kvHeads: 1,
  headDim: 64,
  partialRotary: 0.25,
  mropeSection: [3, 3, 2],
  ropeTheta: 1e6,
  kHeads: 4,
  vHeads: 8,
  dk: 32,
  convK: 4,
  ff: 512,
  experts: 4,
  topK: 2,
  moeFf: 256,
  sharedFf: 256,
  vocab: 520,
  eps: 1e-6,
};

export const TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** mulberry32 + Box-Muller: a seeded normal stream. */
function normalStream(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function toBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

export function textConfig(c: FixtureConfig): Record<string, any> {
  const d = DIMS;
  const layerTypes = Array.from({ length: d.layers }, (_, i) => ((i + 1) % d.interval === 0 ? 'full_attention' : 'linear_attention'));
  const t: Record<string, any> = {
    model_type: c.moe ? 'qwen3_5_moe_text' : 'qwen3_5_text',
    hidden_size: d.hidden,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kvHeads,
    head_dim: d.headDim,
    max_position_embeddings: 4096,
    rms_norm_eps: d.eps,
    vocab_size: d.vocab,
    tie_word_embeddings: c.tied,
    hidden_act: 'silu',
    attn_output_gate: true,
    full_attention_interval: d.interval,
    layer_types: layerTypes,
    linear_num_key_heads: d.kHeads,
    linear_num_value_heads: d.vHeads,
    linear_key_head_dim: d.dk,
    linear_value_head_dim: d.dk,
    linear_conv_kernel_dim: d.convK,
    mtp_num_hidden_layers: 1,
    rope_parameters: {
      rope_type: 'default',
      rope_theta: d.ropeTheta,
      partial_rotary_factor: d.partialRotary,
      mrope_section: d.mropeSection,
      mrope_interleaved: true,
    },
  };
  if (c.moe) {
    Object.assign(t, { num_experts: d.experts, num_experts_per_tok: d.topK, moe_intermediate_size: d.moeFf, shared_expert_intermediate_size: d.sharedFf });
  } else {
    t['intermediate_size'] = d.ff;
  }
  return t;
}

/** The checkpoint's tensors under their HF names (model.language_model.* etc.). */
/** A tensor factory with seeded normal values, rounded to the stored dtype. */
export function tensorMaker(seed: number) {
  const rnd = normalStream(seed);
  const out = new Map<string, HfTensor>();
  const add = (name: string, shape: number[], dtype: Dtype, gen: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = dtype === 'BF16' ? toBf16(gen()) : Math.fround(gen());
    out.set(name, { shape, dtype, data });
  };
  const normal = (mean: number, std: number) => () => mean + std * rnd();
  const w = (name: string, shape: number[], scale = 1) => add(name, shape, 'BF16', normal(0, scale / Math.sqrt(shape[shape.length - 1]!)));
  return { out, add, normal, w };
}

export function makeTensors(c: FixtureConfig, seed: number): Map<string, HfTensor> {
  const d = DIMS;
  const H = d.hidden;
  const { out, add, normal, w } = tensorMaker(seed);
  const zcNorm = (name: string, n: number) => add(name, [n], 'BF16', normal(0, 0.1));  // zero-centred (1 + w)

  const lm = 'model.language_model.';
  add(`${lm}embed_tokens.weight`, [d.vocab, H], 'F32', normal(0, 1));
  const keyDim = d.kHeads * d.dk;
  const valueDim = d.vHeads * d.dk;
  const convDim = 2 * keyDim + valueDim;
  const layer = (p: string, full: boolean, il: number) => {
    zcNorm(`${p}input_layernorm.weight`, H);
    zcNorm(`${p}post_attention_layernorm.weight`, H);
    if (full) {
      w(`${p}self_attn.q_proj.weight`, [2 * d.heads * d.headDim, H]);
      w(`${p}self_attn.k_proj.weight`, [d.kvHeads * d.headDim, H]);
      w(`${p}self_attn.v_proj.weight`, [d.kvHeads * d.headDim, H]);
      w(`${p}self_attn.o_proj.weight`, [H, d.heads * d.headDim], 0.5);
      zcNorm(`${p}self_attn.q_norm.weight`, d.headDim);
      zcNorm(`${p}self_attn.k_norm.weight`, d.headDim);
    } else {
      const la = `${p}linear_attn.`;
      w(`${la}in_proj_qkv.weight`, [convDim, H]);
      w(`${la}in_proj_z.weight`, [valueDim, H]);
      w(`${la}in_proj_b.weight`, [d.vHeads, H]);
      w(`${la}in_proj_a.weight`, [d.vHeads, H]);
      add(`${la}conv1d.weight`, [convDim, 1, d.convK], 'BF16', normal(0, 0.5));
      add(`${la}dt_bias`, [d.vHeads], 'BF16', normal(-1, 0.5));
      add(`${la}A_log`, [d.vHeads], 'F32', normal(-1, 0.5));
      add(`${la}norm.weight`, [d.dk], 'F32', normal(1, 0.1));
      w(`${la}out_proj.weight`, [H, valueDim], 0.5);
    }
    const ffScale = il === 0 ? 2 : 0.5;
    if (c.moe) {
      add(`${p}mlp.gate.weight`, [d.experts, H], 'BF16', normal(0, 1 / Math.sqrt(H)));
      w(`${p}mlp.experts.gate_up_proj`, [d.experts, 2 * d.moeFf, H]);
      w(`${p}mlp.experts.down_proj`, [d.experts, H, d.moeFf], ffScale);
      w(`${p}mlp.shared_expert.gate_proj.weight`, [d.sharedFf, H]);
      w(`${p}mlp.shared_expert.up_proj.weight`, [d.sharedFf, H]);
      w(`${p}mlp.shared_expert.down_proj.weight`, [H, d.sharedFf], ffScale);
      w(`${p}mlp.shared_expert_gate.weight`, [1, H]);
    } else {
      w(`${p}mlp.gate_proj.weight`, [d.ff, H]);
      w(`${p}mlp.up_proj.weight`, [d.ff, H]);
      w(`${p}mlp.down_proj.weight`, [H, d.ff], ffScale);
    }
  };
  for (let il = 0; il < d.layers; il++) layer(`${lm}layers.${il}.`, (il + 1) % d.interval === 0, il);
  zcNorm(`${lm}norm.weight`, H);
  if (!c.tied) add('lm_head.weight', [d.vocab, H], 'BF16', normal(0, 2.5 / Math.sqrt(H)));
  if (c.mtp) {
    layer('mtp.layers.0.', true, 1);
    w('mtp.fc.weight', [H, 2 * H]);
    zcNorm('mtp.pre_fc_norm_embedding.weight', H);
    zcNorm('mtp.pre_fc_norm_hidden.weight', H);
    zcNorm('mtp.norm.weight', H);
  }
  // The vision tower, which the converter leaves to the mmproj file.
  w('model.visual.blocks.0.attn.qkv.weight', [96, 32]);
  return out;
}

/** safetensors bytes for the given tensors (header padded to 8 bytes, data in insertion order). */
export function safetensorsBytes(tensors: [string, HfTensor][]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const buf = encode(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    chunks.push(buf);
    offset += buf.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...chunks]);
}

function encode(t: HfTensor): Buffer {
  if (t.dtype === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = Buffer.alloc(t.data.length * 2);
  const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
  for (let i = 0; i < t.data.length; i++) out.writeUInt16LE(u[i]! >>> 16, 2 * i);  // values are exact bf16
  return out;
}

/** The tokenizer files: tiny byte-level BPE + the Qwen3.5 added tokens. */
function tokenizerFiles(dir: string, c: Pick<FixtureConfig, 'template'>): void {
  const v = tinyVocab();
  const vocab: Record<string, number> = {};
  const added: unknown[] = [];
  v.tokens.forEach((tok, id) => {
    const type = v.tokenTypes[id];
    if (type === TokenType.NORMAL) vocab[tok] = id;
    else if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      added.push({ id, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TokenType.CONTROL });
    }
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [] },
    post_processor: null,
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', dropout: null, unk_token: null, byte_fallback: false, vocab, merges: v.merges.map((m) => m.split(' ')) },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const tc: Record<string, unknown> = {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    unk_token: null,
    model_max_length: 4096,
    tokenizer_class: 'Qwen2Tokenizer',
  };
  if (c.template === 'tokenizer_config') tc['chat_template'] = TEMPLATE;
  else writeFileSync(path.join(dir, 'chat_template.jinja'), TEMPLATE);
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc, null, 2));
}

/** Writes the checkpoint folder `dir`. */
export function writeFixture(dir: string, c: FixtureConfig, seed = 1): HfFixture {
  mkdirSync(dir, { recursive: true });
  const tensors = makeTensors(c, seed);
  const text = textConfig(c);
  const config = {
    architectures: [c.moe ? 'Qwen3_5MoeForConditionalGeneration' : 'Qwen3_5ForConditionalGeneration'],
    model_type: c.moe ? 'qwen3_5_moe' : 'qwen3_5',
    tie_word_embeddings: c.tied,
    text_config: text,
    vision_config: { depth: 1, hidden_size: 32 },
    image_token_id: 248056,
    transformers_version: '5.0.0',
  };
  writeCheckpoint(dir, config, tensors, c);
  return { dir, text, tensors };
}

/** config.json, two safetensors shards with an index, and the tokenizer files. */
export function writeCheckpoint(dir: string, config: object, tensors: Map<string, HfTensor>, c: Pick<FixtureConfig, 'template'>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const entries = [...tensors.entries()];
  const shards: [string, HfTensor][][] = [[], []];
  entries.forEach((e, i) => shards[i < entries.length / 2 ? 0 : 1]!.push(e));
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    writeFileSync(path.join(dir, names[i]!), safetensorsBytes(s));
    for (const [name] of s) weightMap[name] = names[i]!;
  });
  writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
  tokenizerFiles(dir, c);
}
