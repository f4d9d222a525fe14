// GGUF metadata of a synthetic model: the keys llama.cpp's convert_hf_to_gguf.py writes for a
// Qwen3.5 checkpoint (conversion/base.py TextModel.set_gguf_parameters, qwen.py Qwen3NextModel,
// _Qwen35MRopeMixin, _set_vocab_gpt2 + SpecialVocab), with the same value types.
// Not written, as for real checkpoints: feed_forward_length for MoE (the HF config has no
// intermediate_size), nextn_predict_layers (no MTP block), bos_token_id (Qwen3.5 has none).
import type { GgufKv } from '../native/index.js';
import { generalKvs, hparamKvs, sizeLabel, tokenizerKvs } from '../convert/ggufMetadata.js';
import type { SynthPreset } from './presets.js';
import type { PlannedTensor } from './tensorPlan.js';
import { QWEN35_CHAT_TEMPLATE } from '../templates/qwen35Template.js';
import type { SynthVocab } from './tokenizer/vocab.js';
import { WEIGHT_TYPE_INFO, type WeightType } from './weightTypes.js';

export function buildMetadata(
  p: SynthPreset,
  vocab: SynthVocab,
  tensors: PlannedTensor[],
  weightType: WeightType,
): GgufKv[] {
  return [
    ...generalKvs(p.arch, `${p.description}, random weights (petrel synth ${p.name})`, sizeLabel(tensors)),
    ...hparamKvs(
      {
        arch: p.arch,
        nLayer: p.nLayer,
        nNextn: 0,
        contextLength: p.contextLength,
        nEmbd: p.nEmbd,
        nFf: p.nFf,
        nHead: p.nHead,
        nHeadKv: p.nHeadKv,
        headDim: p.headDim,
        nRot: p.nRot,
        ropeFreqBase: p.ropeFreqBase,
        ropeSections: p.ropeSections,
        rmsEps: p.rmsEps,
        moe: p.moe,
        ssm: { conv: p.ssmConv, state: p.ssmState, groups: p.ssmGroups, vHeads: p.ssmVHeads },
        fullAttentionInterval: p.fullAttentionInterval,
      },
      WEIGHT_TYPE_INFO[weightType].fileType,
    ),
    ...tokenizerKvs({
      pre: vocab.pre,
      tokens: vocab.tokens,
      tokenTypes: vocab.tokenTypes,
      merges: vocab.merges,
      eosId: vocab.eosId,
      padId: vocab.padId,
      addBos: false,
      chatTemplate: QWEN35_CHAT_TEMPLATE,
    }),
  ];
}

export { sizeLabel } from '../convert/ggufMetadata.js';
