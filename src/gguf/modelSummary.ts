// What `petrel show` reports about a GGUF model, computed from its metadata and tensor table.
// Pure: no file access, so it is tested on hand-built inputs.
import type { GgufKv, GgufTensorInfo } from '../native/index.js';

export interface LayerPattern {
  /** Trunk layers evaluated for logits (block_count minus MTP/NextN blocks). */
  nLayer: number;
  /** MTP/NextN draft blocks appended after the trunk (not run as trunk layers). */
  nNextn: number;
  /** 'D' = Gated DeltaNet (recurrent), 'A' = full attention, one letter per trunk layer. */
  kinds: string;
  deltaNetLayers: number;
  attentionLayers: number;
  /** Where the pattern came from. */
  source: 'attention.recurrent_layers' | 'full_attention_interval' | 'default interval 4' | 'attention only';
}

export interface ModelSummary {
  architecture: string;
  name?: string;
  fileType?: string;
  layers: LayerPattern;
  parameters: number;
  /** For MoE: parameters touched per token (non-expert + used experts' share). */
  activeParameters?: number;
  embeddingLength?: number;
  contextLength?: number;
  heads?: { q: number; kv: number; headDim: number };
  deltaNet?: { keyHeads: number; valueHeads: number; stateSize: number; convKernel: number };
  experts?: { count: number; used: number; feedForward?: number; sharedFeedForward?: number };
  tiedOutput: boolean;
  tensorTypes: Record<string, { tensors: number; bytes: number }>;
  tensorCount: number;
  tensorBytes: number;
  tokenizer?: { model: string; pre?: string; vocabSize: number; bos?: number; eos?: number };
  chatTemplate: boolean;
}

const HYBRID_ARCHS = new Set(['qwen35', 'qwen35moe', 'qwen3next']);

/** llama_ftype names for general.file_type (llama.h). */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S',
  12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K',
  19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL',
  26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0',
  37: 'TQ2_0', 38: 'MXFP4_MOE',
};

export function summarizeModel(kvs: GgufKv[], tensors: GgufTensorInfo[]): ModelSummary {
  const meta = new Map(kvs.map((kv) => [kv.key, kv]));
  const arch = stringValue(meta.get('general.architecture')) ?? 'unknown';
  const num = (key: string): number | undefined => numberValue(meta.get(`${arch}.${key}`));

  const blockCount = num('block_count') ?? countBlocks(tensors);
  const nNextn = num('nextn_predict_layers') ?? 0;
  const layers = layerPattern(arch, meta, Math.max(0, blockCount - nNextn), nNextn);

  const tensorTypes: ModelSummary['tensorTypes'] = {};
  let parameters = 0;
  let tensorBytes = 0;
  let expertParams = 0;
  for (const t of tensors) {
    const entry = (tensorTypes[t.typeName] ??= { tensors: 0, bytes: 0 });
    entry.tensors += 1;
    entry.bytes += t.size;
    parameters += t.nElements;
    tensorBytes += t.size;
    if (/\.ffn_(gate|up|down|gate_up)_exps\.weight$/.test(t.name)) expertParams += t.nElements;
  }

  const expertCount = num('expert_count');
  const expertUsed = num('expert_used_count');
  const summary: ModelSummary = {
    architecture: arch,
    layers,
    parameters,
    tiedOutput: !tensors.some((t) => t.name === 'output.weight'),
    tensorTypes,
    tensorCount: tensors.length,
    tensorBytes,
    chatTemplate: meta.has('tokenizer.chat_template'),
  };
  const name = stringValue(meta.get('general.name'));
  if (name !== undefined) summary.name = name;
  const ft = numberValue(meta.get('general.file_type'));
  if (ft !== undefined) summary.fileType = FILE_TYPES[ft] ?? `type ${ft}`;
  const embd = num('embedding_length');
  if (embd !== undefined) summary.embeddingLength = embd;
  const ctx = num('context_length');
  if (ctx !== undefined) summary.contextLength = ctx;
  const nHead = num('attention.head_count');
  if (nHead !== undefined) {
    summary.heads = {
      q: nHead,
      kv: num('attention.head_count_kv') ?? nHead,
      headDim: num('attention.key_length') ?? (embd !== undefined ? embd / nHead : 0),
    };
  }
  const groups = num('ssm.group_count');
  if (groups !== undefined) {
    summary.deltaNet = {
      keyHeads: groups,
      valueHeads: num('ssm.time_step_rank') ?? groups,
      stateSize: num('ssm.state_size') ?? 0,
      convKernel: num('ssm.conv_kernel') ?? 0,
    };
  }
  if (expertCount !== undefined && expertCount > 0) {
    summary.experts = { count: expertCount, used: expertUsed ?? 0 };
    const ff = num('expert_feed_forward_length');
    if (ff !== undefined) summary.experts.feedForward = ff;
    const shff = num('expert_shared_feed_forward_length');
    if (shff !== undefined) summary.experts.sharedFeedForward = shff;
    if (expertUsed !== undefined) {
      summary.activeParameters = Math.round(parameters - expertParams + (expertParams * expertUsed) / expertCount);
    }
  }
  const tokModel = stringValue(meta.get('tokenizer.ggml.model'));
  if (tokModel !== undefined) {
    const tokens = meta.get('tokenizer.ggml.tokens');
    const tok: NonNullable<ModelSummary['tokenizer']> = {
      model: tokModel,
      vocabSize: Array.isArray(tokens?.value) ? tokens.value.length : (num('vocab_size') ?? 0),
    };
    const pre = stringValue(meta.get('tokenizer.ggml.pre'));
    if (pre !== undefined) tok.pre = pre;
    const bos = numberValue(meta.get('tokenizer.ggml.bos_token_id'));
    if (bos !== undefined) tok.bos = bos;
    const eos = numberValue(meta.get('tokenizer.ggml.eos_token_id'));
    if (eos !== undefined) tok.eos = eos;
    summary.tokenizer = tok;
  }
  return summary;
}

function layerPattern(arch: string, meta: Map<string, GgufKv>, nLayer: number, nNextn: number): LayerPattern {
  let kinds: string;
  let source: LayerPattern['source'];
  const recurrent = meta.get(`${arch}.attention.recurrent_layers`);
  if (recurrent && Array.isArray(recurrent.value)) {
    const flags = recurrent.value as unknown[];
    kinds = Array.from({ length: nLayer }, (_, i) => (flags[i] ? 'D' : 'A')).join('');
    source = 'attention.recurrent_layers';
  } else if (HYBRID_ARCHS.has(arch)) {
    const interval = numberValue(meta.get(`${arch}.full_attention_interval`));
    const n = interval && interval > 0 ? interval : 4;
    // llama.cpp: is_recurrent(i) = (i + 1) % interval != 0
    kinds = Array.from({ length: nLayer }, (_, i) => ((i + 1) % n !== 0 ? 'D' : 'A')).join('');
    source = interval ? 'full_attention_interval' : 'default interval 4';
  } else {
    kinds = 'A'.repeat(nLayer);
    source = 'attention only';
  }
  const deltaNetLayers = [...kinds].filter((k) => k === 'D').length;
  return { nLayer, nNextn, kinds, deltaNetLayers, attentionLayers: nLayer - deltaNetLayers, source };
}

function countBlocks(tensors: GgufTensorInfo[]): number {
  let max = -1;
  for (const t of tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

function stringValue(kv: GgufKv | undefined): string | undefined {
  return kv && typeof kv.value === 'string' ? kv.value : undefined;
}

function numberValue(kv: GgufKv | undefined): number | undefined {
  if (!kv) return undefined;
  if (typeof kv.value === 'number') return kv.value;
  if (typeof kv.value === 'bigint') return Number(kv.value);
  return undefined;
}

/** "DDDA DDDA …" compressed as runs, e.g. "(DDDA)×6" for the usual 3:1 pattern. */
export function compactPattern(kinds: string): string {
  if (kinds.length === 0) return '(none)';
  for (let period = 1; period <= Math.min(8, kinds.length); period++) {
    const unit = kinds.slice(0, period);
    if (kinds.length % period === 0 && unit.repeat(kinds.length / period) === kinds) {
      return period === kinds.length ? kinds : `(${unit})×${kinds.length / period}`;
    }
  }
  return kinds;
}
