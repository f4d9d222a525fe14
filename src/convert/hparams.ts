// config.json -> the GGUF architecture and its hyperparameters, as llama.cpp's converter reads them
// (field names of transformers' Qwen3_5(Moe)TextConfig, Qwen3NextConfig, Qwen3(Moe)Config).
import { UserError } from '../errors.js';
import type { ArchHparams, QwenArch } from './ggufMetadata.js';

/** HF class names (config.json "architectures") and the GGUF arch each one converts to. */
export const SUPPORTED_ARCHITECTURES: Record<string, QwenArch> = {
  Qwen3_5ForConditionalGeneration: 'qwen35',
  Qwen3_5ForCausalLM: 'qwen35',
  Qwen3_5MoeForConditionalGeneration: 'qwen35moe',
  Qwen3_5MoeForCausalLM: 'qwen35moe',
  Qwen3NextForCausalLM: 'qwen3next',
  Qwen3ForCausalLM: 'qwen3',
  Qwen3MoeForCausalLM: 'qwen3moe',
};

export interface ConvertHparams extends ArchHparams {
  hfArchitecture: string;
  tied: boolean;
  /** config vocab_size (rows of embed_tokens). */
  nVocab: number;
  /** Linear-attention head dims (dk = linear_key_head_dim, dv = linear_value_head_dim). */
  linear?: { kHeads: number; vHeads: number; dk: number; dv: number };
}

export function hparamsFromConfig(config: Record<string, unknown>, text: Record<string, unknown>, file: string): ConvertHparams {
  const archs = config['architectures'];
  const hfArchitecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (!hfArchitecture) throw new UserError(`${file}: no "architectures" entry`, 'ERR_UNSUPPORTED');
  const arch = SUPPORTED_ARCHITECTURES[hfArchitecture];
  if (!arch) {
    throw new UserError(`${file}: ${hfArchitecture} is not supported (one of: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')})`, 'ERR_UNSUPPORTED');
  }
  const rope = (text['rope_parameters'] ?? text['rope_scaling'] ?? {}) as Record<string, unknown>;
  const num = (key: string, fallback?: number, from: Record<string, unknown> = text): number => {
    const v = from[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new UserError(`${file}: no "${key}"`, 'ERR_CORRUPT_FILE');
    }
    throw new UserError(`${file}: "${key}" is not a number`, 'ERR_CORRUPT_FILE');
  };
  const int = (key: string, fallback?: number, from?: Record<string, unknown>): number => {
    const v = num(key, fallback, from);
    if (!Number.isSafeInteger(v) || v < 0) throw new UserError(`${file}: "${key}" must be a whole number`, 'ERR_CORRUPT_FILE');
    return v;
  };
  const hybrid = arch === 'qwen35' || arch === 'qwen35moe' || arch === 'qwen3next';
  const moe = arch === 'qwen35moe' || arch === 'qwen3moe' || arch === 'qwen3next';
  const nEmbd = int('hidden_size');
  const nHead = int('num_attention_heads');
  if (nHead === 0) throw new UserError(`${file}: num_attention_heads is 0`, 'ERR_CORRUPT_FILE');
  const headDim = int('head_dim', Math.floor(nEmbd / nHead));
  const partial = num('partial_rotary_factor', num('partial_rotary_factor', 1, rope));
  const ropeTheta = num('rope_theta', num('rope_theta', 10000, rope));
  const nLayer = int('num_hidden_layers');
  const tiedRaw = text['tie_word_embeddings'] ?? config['tie_word_embeddings'];
  const hp: ConvertHparams = {
    arch,
    hfArchitecture,
    nLayer,
    nNextn: hybrid ? int('mtp_num_hidden_layers', 0) : 0,
    contextLength: int('max_position_embeddings'),
    nEmbd,
    nFf: text['intermediate_size'] === undefined || text['intermediate_size'] === null ? undefined : int('intermediate_size'),
    nHead,
    nHeadKv: int('num_key_value_heads', nHead),
    headDim,
    nRot: Math.floor(headDim * partial),
    ropeFreqBase: ropeTheta,
    rmsEps: num('rms_norm_eps', 1e-6),
    tied: tiedRaw === true,
    nVocab: int('vocab_size'),
  };
  if (arch === 'qwen35' || arch === 'qwen35moe') {
    const sections = rope['mrope_section'] ?? [11, 11, 10];
    if (!Array.isArray(sections) || sections.length > 4 || !sections.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw new UserError(`${file}: bad mrope_section`, 'ERR_CORRUPT_FILE');
    }
    hp.ropeSections = [...(sections as number[]), 0, 0, 0, 0].slice(0, 4);
  }
  if (moe) {
    hp.moe = {
      nExpert: int('num_experts'),
      nExpertUsed: int('num_experts_per_tok'),
      nFfExp: int('moe_intermediate_size'),
      nFfShexp: arch === 'qwen3moe' ? undefined : int('shared_expert_intermediate_size'),
    };
    // Qwen3.5-MoE has no dense FFN (and its config no intermediate_size); Qwen3-MoE's is unused but written.
  }
  if (hybrid) {
    const kHeads = int('linear_num_key_heads');
    const vHeads = int('linear_num_value_heads');
    const dk = int('linear_key_head_dim');
    const dv = int('linear_value_head_dim');
    if (kHeads === 0 || vHeads % kHeads !== 0) {
      throw new UserError(`${file}: linear_num_value_heads must be a multiple of linear_num_key_heads`, 'ERR_CORRUPT_FILE');
    }
    if (dk !== dv) throw new UserError(`${file}: linear_key_head_dim and linear_value_head_dim differ`, 'ERR_UNSUPPORTED');
    hp.linear = { kHeads, vHeads, dk, dv };
    hp.ssm = { conv: int('linear_conv_kernel_dim'), state: dk, groups: kHeads, vHeads };
    hp.fullAttentionInterval = fullAttentionInterval(text, nLayer, file);
  }
  return hp;
}

/** full_attention_interval, or the period of an explicit layer_types list (which must be regular). */
function fullAttentionInterval(text: Record<string, unknown>, nLayer: number, file: string): number {
  const types = text['layer_types'];
  let interval = typeof text['full_attention_interval'] === 'number' ? (text['full_attention_interval'] as number) : undefined;
  if (Array.isArray(types)) {
    const first = types.indexOf('full_attention');
    interval ??= first >= 0 ? first + 1 : nLayer + 1;
    for (let i = 0; i < types.length; i++) {
      const full = (i + 1) % interval === 0;
      if ((types[i] === 'full_attention') !== full) {
        throw new UserError(`${file}: layer_types does not follow a full_attention_interval of ${interval}`, 'ERR_UNSUPPORTED');
      }
    }
  }
  interval ??= 4;
  if (!Number.isSafeInteger(interval) || interval < 1) throw new UserError(`${file}: bad full_attention_interval`, 'ERR_CORRUPT_FILE');
  return interval;
}

export function isRecurrent(hp: ConvertHparams, il: number): boolean {
  return hp.fullAttentionInterval !== undefined && il < hp.nLayer && (il + 1) % hp.fullAttentionInterval !== 0;
}
