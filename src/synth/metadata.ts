// GGUF metadata of a synthetic model: the keys llama.cpp's convert_hf_to_gguf.py writes for a
// Qwen3.5 checkpoint (conversion/base.py TextModel.set_gguf_parameters, qwen.py Qwen3NextModel,
// _Qwen35MRopeMixin, _set_vocab_gpt2 + SpecialVocab), with the same value types.
// Not written, as for real checkpoints: feed_forward_length for MoE (the HF config has no
// intermediate_size), nextn_predict_layers (no MTP block), bos_token_id (Qwen3.5 has none).
import type { GgufKv, GgufScalar, GgufValueType } from '../engine/native.js';
import type { SynthPreset } from './presets.js';
import type { PlannedTensor } from './tensorPlan.js';
import { tensorElements } from './tensorPlan.js';
import { QWEN35_CHAT_TEMPLATE } from '../templates/qwen35Template.js';
import type { SynthVocab } from './tokenizer/vocab.js';
import { WEIGHT_TYPE_INFO, type WeightType } from './weightTypes.js';

/** ggml's GGML_QNT_VERSION, which the converter always records. */
const QUANTIZATION_VERSION = 2;

export function buildMetadata(
  p: SynthPreset,
  vocab: SynthVocab,
  tensors: PlannedTensor[],
  weightType: WeightType,
): GgufKv[] {
  const a = p.arch;
  const kv: GgufKv[] = [];
  const u32 = (key: string, value: number) => kv.push({ key, type: 'u32', value });
  const f32 = (key: string, value: number) => kv.push({ key, type: 'f32', value });
  const str = (key: string, value: string) => kv.push({ key, type: 'str', value });
  const arr = (key: string, itemType: GgufValueType, value: GgufScalar[]) => kv.push({ key, type: 'arr', itemType, value });

  str('general.architecture', a);
  str('general.type', 'model');
  str('general.name', `${p.description}, random weights (petrel synth ${p.name})`);
  str('general.size_label', sizeLabel(tensors));

  u32(`${a}.block_count`, p.nLayer);
  u32(`${a}.context_length`, p.contextLength);
  u32(`${a}.embedding_length`, p.nEmbd);
  if (p.nFf !== undefined) u32(`${a}.feed_forward_length`, p.nFf);
  u32(`${a}.attention.head_count`, p.nHead);
  u32(`${a}.attention.head_count_kv`, p.nHeadKv);
  arr(`${a}.rope.dimension_sections`, 'i32', p.ropeSections);
  f32(`${a}.rope.freq_base`, p.ropeFreqBase);
  f32(`${a}.attention.layer_norm_rms_epsilon`, p.rmsEps);
  if (p.moe) {
    u32(`${a}.expert_count`, p.moe.nExpert);
    u32(`${a}.expert_used_count`, p.moe.nExpertUsed);
  }
  u32(`${a}.attention.key_length`, p.headDim);
  u32(`${a}.attention.value_length`, p.headDim);
  u32('general.file_type', WEIGHT_TYPE_INFO[weightType].fileType);
  if (p.moe) {
    u32(`${a}.expert_feed_forward_length`, p.moe.nFfExp);
    u32(`${a}.expert_shared_feed_forward_length`, p.moe.nFfShexp);
  }
  u32(`${a}.ssm.conv_kernel`, p.ssmConv);
  u32(`${a}.ssm.state_size`, p.ssmState);
  u32(`${a}.ssm.group_count`, p.ssmGroups);
  u32(`${a}.ssm.time_step_rank`, p.ssmVHeads);
  u32(`${a}.ssm.inner_size`, p.ssmVHeads * p.ssmState);
  u32(`${a}.full_attention_interval`, p.fullAttentionInterval);
  u32(`${a}.rope.dimension_count`, p.nRot);
  u32('general.quantization_version', QUANTIZATION_VERSION);

  str('tokenizer.ggml.model', 'gpt2');
  str('tokenizer.ggml.pre', vocab.pre);
  arr('tokenizer.ggml.tokens', 'str', vocab.tokens);
  arr('tokenizer.ggml.token_type', 'i32', vocab.tokenTypes);
  arr('tokenizer.ggml.merges', 'str', vocab.merges);
  u32('tokenizer.ggml.eos_token_id', vocab.eosId);
  u32('tokenizer.ggml.padding_token_id', vocab.padId);
  kv.push({ key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: false });
  str('tokenizer.chat_template', QWEN35_CHAT_TEMPLATE);
  return kv;
}

/** gguf-py's size_label(): "9.0B"-style, or "256x…" with the per-expert share for MoE. */
export function sizeLabel(tensors: PlannedTensor[]): string {
  let total = 0;
  let shared = 0;
  let perExpert = 0;
  let expertSum = 0;
  let expertTensors = 0;
  for (const t of tensors) {
    const n = tensorElements(t);
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
