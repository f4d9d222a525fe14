// The GGUF metadata keys llama.cpp's convert_hf_to_gguf.py writes for the Qwen families, in its
// order and with its value types (conversion/base.py TextModel.set_gguf_parameters, qwen.py
// Qwen2MoeModel / Qwen3NextModel / _Qwen35MRopeMixin / the MTP mixin, _set_vocab_gpt2 + SpecialVocab).
// Shared by `petrel synth` (random models) and the Hugging Face converter, so both write one set of keys.
import type { GgufKv, GgufScalar, GgufValueType } from '../native/index.js';

/** ggml's GGML_QNT_VERSION, which the converter always records. */
export const QUANTIZATION_VERSION = 2;

export type QwenArch = 'qwen35' | 'qwen35moe' | 'qwen3next' | 'qwen3' | 'qwen3moe';

export const HYBRID_ARCHS: readonly QwenArch[] = ['qwen35', 'qwen35moe', 'qwen3next'];

export interface ArchHparams {
  arch: QwenArch;
  /** Trunk layers (block_count counts the MTP blocks too). */
  nLayer: number;
  /** MTP blocks appended after the trunk (nextn_predict_layers), 0 when absent. */
  nNextn: number;
  contextLength: number;
  nEmbd: number;
  /** Dense FFN width (feed_forward_length); absent when the config has no intermediate_size. */
  nFf?: number;
  nHead: number;
  nHeadKv: number;
  /** attention.key_length / value_length. */
  headDim: number;
  /** rope.dimension_count; written for the hybrid archs only. */
  nRot: number;
  ropeFreqBase: number;
  /** qwen35 / qwen35moe: M-RoPE sections padded to 4. */
  ropeSections?: number[];
  rmsEps: number;
  moe?: { nExpert: number; nExpertUsed: number; nFfExp: number; nFfShexp?: number };
  /** Gated DeltaNet (hybrid archs). */
  ssm?: { conv: number; state: number; groups: number; vHeads: number };
  fullAttentionInterval?: number;
}

export interface TokenizerMetadata {
  /** tokenizer.ggml.pre: 'qwen35' or 'qwen2'. */
  pre: string;
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  bosId?: number;
  eosId?: number;
  padId?: number;
  addBos?: boolean;
  chatTemplate?: string;
}

class KvList {
  readonly kvs: GgufKv[] = [];
  u32(key: string, value: number) { this.kvs.push({ key, type: 'u32', value }); }
  f32(key: string, value: number) { this.kvs.push({ key, type: 'f32', value }); }
  str(key: string, value: string) { this.kvs.push({ key, type: 'str', value }); }
  bool(key: string, value: boolean) { this.kvs.push({ key, type: 'bool', value }); }
  arr(key: string, itemType: GgufValueType, value: GgufScalar[]) { this.kvs.push({ key, type: 'arr', itemType, value }); }
}

/** general.architecture .. general.size_label. */
export function generalKvs(arch: QwenArch, name: string, label: string): GgufKv[] {
  const k = new KvList();
  k.str('general.architecture', arch);
  k.str('general.type', 'model');
  k.str('general.name', name);
  k.str('general.size_label', label);
  return k.kvs;
}

/** The hyperparameter keys, general.file_type and general.quantization_version, in the converter's order. */
export function hparamKvs(h: ArchHparams, fileType: number): GgufKv[] {
  const a = h.arch;
  const hybrid = HYBRID_ARCHS.includes(a);
  const k = new KvList();
  k.u32(`${a}.block_count`, h.nLayer + h.nNextn);
  k.u32(`${a}.context_length`, h.contextLength);
  k.u32(`${a}.embedding_length`, h.nEmbd);
  if (h.nFf !== undefined) k.u32(`${a}.feed_forward_length`, h.nFf);
  k.u32(`${a}.attention.head_count`, h.nHead);
  k.u32(`${a}.attention.head_count_kv`, h.nHeadKv);
  if (h.ropeSections) k.arr(`${a}.rope.dimension_sections`, 'i32', h.ropeSections);
  k.f32(`${a}.rope.freq_base`, h.ropeFreqBase);
  k.f32(`${a}.attention.layer_norm_rms_epsilon`, h.rmsEps);
  if (h.moe) {
    k.u32(`${a}.expert_count`, h.moe.nExpert);
    k.u32(`${a}.expert_used_count`, h.moe.nExpertUsed);
  }
  k.u32(`${a}.attention.key_length`, h.headDim);
  k.u32(`${a}.attention.value_length`, h.headDim);
  k.u32('general.file_type', fileType);
  if (h.moe) {
    k.u32(`${a}.expert_feed_forward_length`, h.moe.nFfExp);
    if (h.moe.nFfShexp !== undefined) k.u32(`${a}.expert_shared_feed_forward_length`, h.moe.nFfShexp);
  }
  if (hybrid && h.ssm) {
    k.u32(`${a}.ssm.conv_kernel`, h.ssm.conv);
    k.u32(`${a}.ssm.state_size`, h.ssm.state);
    k.u32(`${a}.ssm.group_count`, h.ssm.groups);
    k.u32(`${a}.ssm.time_step_rank`, h.ssm.vHeads);
    k.u32(`${a}.ssm.inner_size`, h.ssm.vHeads * h.ssm.state);
    k.u32(`${a}.full_attention_interval`, h.fullAttentionInterval ?? 4);
    k.u32(`${a}.rope.dimension_count`, h.nRot);
  }
  if (h.nNextn > 0) k.u32(`${a}.nextn_predict_layers`, h.nNextn);
  k.u32('general.quantization_version', QUANTIZATION_VERSION);
  return k.kvs;
}

/** tokenizer.ggml.* and tokenizer.chat_template (_set_vocab_gpt2, then SpecialVocab.add_to_gguf). */
export function tokenizerKvs(t: TokenizerMetadata): GgufKv[] {
  const k = new KvList();
  k.str('tokenizer.ggml.model', 'gpt2');
  k.str('tokenizer.ggml.pre', t.pre);
  k.arr('tokenizer.ggml.tokens', 'str', t.tokens);
  k.arr('tokenizer.ggml.token_type', 'i32', t.tokenTypes);
  k.arr('tokenizer.ggml.merges', 'str', t.merges);
  if (t.bosId !== undefined) k.u32('tokenizer.ggml.bos_token_id', t.bosId);
  if (t.eosId !== undefined) k.u32('tokenizer.ggml.eos_token_id', t.eosId);
  if (t.padId !== undefined) k.u32('tokenizer.ggml.padding_token_id', t.padId);
  if (t.addBos !== undefined) k.bool('tokenizer.ggml.add_bos_token', t.addBos);
  if (t.chatTemplate !== undefined) k.str('tokenizer.chat_template', t.chatTemplate);
  return k.kvs;
}

/** gguf-py's size_label(): "9.0B"-style, or "256x…" with the per-expert share for MoE. */
export function sizeLabel(tensors: { name: string; shape: number[] }[]): string {
  let total = 0;
  let shared = 0;
  let perExpert = 0;
  let expertSum = 0;
  let expertTensors = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    total += n;
    if (t.name.includes('_exps.') && t.shape.length >= 3) {
      const nExpert = t.shape[2]!;
      perExpert += n / nExpert;
      expertSum += nExpert;
      expertTensors++;
    } else {
      shared += n;
    }
  }
  if (expertTensors > 0) return `${expertSum / expertTensors}x${roundedCount(shared + perExpert)}`;
  return roundedCount(total);
}

/** gguf-py's model_weight_count_rounded_notation(n, min_digits=2). */
function roundedCount(n: number): string {
  const [scaled, suffix] =
    n > 1e12 ? [n * 1e-12, 'T'] : n > 1e9 ? [n * 1e-9, 'B'] : n > 1e6 ? [n * 1e-6, 'M'] : [n * 1e-3, 'K'];
  const digits = String(Math.round(scaled)).replace(/^0+/, '').length;
  return `${scaled.toFixed(Math.max(2 - digits, 0))}${suffix}`;
}
