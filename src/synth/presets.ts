// Synthetic-model presets: the published Qwen3.5 configurations in GGUF terms
// (docs/GGUF.md#published-shapes) plus tiny models with the same structure for tests.
// Every preset has full_attention_interval 4: blocks 3, 7, 11, ... are softmax attention, the rest
// Gated DeltaNet.
import { UserError } from '../errors.js';
import type { WeightType } from './weightTypes.js';

export type SynthArch = 'qwen35' | 'qwen35moe';

export interface SynthMoe {
  /** expert_count */
  nExpert: number;
  /** expert_used_count */
  nExpertUsed: number;
  /** expert_feed_forward_length */
  nFfExp: number;
  /** expert_shared_feed_forward_length */
  nFfShexp: number;
}

export interface SynthPreset {
  /** The name `petrel synth` takes. */
  name: string;
  /** What it imitates, for general.name and help text. */
  description: string;
  arch: SynthArch;
  nLayer: number;
  nEmbd: number;
  /** feed_forward_length of the dense FFN; undefined for MoE (the converter writes none). */
  nFf?: number;
  nHead: number;
  nHeadKv: number;
  /** attention.key_length = value_length */
  headDim: number;
  /** rope.dimension_count (headDim · partial_rotary_factor 0.25) */
  nRot: number;
  /** rope.dimension_sections, summing to nRot / 2 */
  ropeSections: [number, number, number, number];
  ropeFreqBase: number;
  rmsEps: number;
  contextLength: number;
  fullAttentionInterval: number;
  /** ssm.conv_kernel */
  ssmConv: number;
  /** ssm.state_size = K and V head dim of the Gated DeltaNet */
  ssmState: number;
  /** ssm.group_count = K heads (Hk) */
  ssmGroups: number;
  /** ssm.time_step_rank = V heads (Hv); ssm.inner_size = Hv · ssmState */
  ssmVHeads: number;
  moe?: SynthMoe;
  /** No output.weight: token_embd is the LM head. */
  tiedOutput: boolean;
  /** 'tiny': a BPE trained on bundled text; 'qwen35': Qwen3 BPE padded to Qwen3.5's 248320 ids. */
  vocab: 'tiny' | 'qwen35';
  defaultType: WeightType;
}

/** Common to every published Qwen3.5 size. */
const QWEN35 = {
  headDim: 256,
  nRot: 64,
  ropeSections: [11, 11, 10, 0],
  ropeFreqBase: 1e7,
  rmsEps: 1e-6,
  contextLength: 262144,
  fullAttentionInterval: 4,
  ssmConv: 4,
  ssmState: 128,
  ssmGroups: 16,
  vocab: 'qwen35',
  // What convert_hf_to_gguf.py writes by default; quantize with --type q8_0 for smaller files.
  defaultType: 'f16',
} as const satisfies Partial<SynthPreset>;

/** The tiny presets: real structure (interleaved q/gate, GQA, Hv = r·Hk tiled, MoE + shared). */
const TINY = {
  nEmbd: 256,
  nLayer: 8,
  headDim: 64,
  nRot: 16,
  ropeSections: [3, 3, 2, 0],
  ropeFreqBase: 1e7,
  rmsEps: 1e-6,
  contextLength: 4096,
  fullAttentionInterval: 4,
  ssmConv: 4,
  ssmState: 32,
  ssmGroups: 2,
  vocab: 'tiny',
  defaultType: 'f32',
} as const satisfies Partial<SynthPreset>;

export const PRESETS: readonly SynthPreset[] = [
  { ...TINY, name: 'tiny', description: 'tiny qwen35: dense, Hv = 2·Hk, tied output', arch: 'qwen35',
    nFf: 512, nHead: 4, nHeadKv: 2, ssmVHeads: 4, tiedOutput: true },
  { ...TINY, name: 'tiny-moe', description: 'tiny qwen35moe: 8 experts, top-2, shared expert', arch: 'qwen35moe',
    nHead: 4, nHeadKv: 2, ssmVHeads: 4, tiedOutput: false,
    moe: { nExpert: 8, nExpertUsed: 2, nFfExp: 128, nFfShexp: 256 } },
  { ...TINY, name: 'tiny-r3', description: 'tiny qwen35: Hv = 3·Hk as in the 27B, untied output', arch: 'qwen35',
    nFf: 512, nHead: 6, nHeadKv: 2, ssmVHeads: 6, tiedOutput: false },

  { ...QWEN35, name: '0.8b', description: 'Qwen3.5-0.8B', arch: 'qwen35',
    nLayer: 24, nEmbd: 1024, nFf: 3584, nHead: 8, nHeadKv: 2, ssmVHeads: 16, tiedOutput: true },
  { ...QWEN35, name: '2b', description: 'Qwen3.5-2B', arch: 'qwen35',
    nLayer: 24, nEmbd: 2048, nFf: 6144, nHead: 8, nHeadKv: 2, ssmVHeads: 16, tiedOutput: true },
  { ...QWEN35, name: '4b', description: 'Qwen3.5-4B', arch: 'qwen35',
    nLayer: 32, nEmbd: 2560, nFf: 9216, nHead: 16, nHeadKv: 4, ssmVHeads: 32, tiedOutput: true },
  { ...QWEN35, name: '9b', description: 'Qwen3.5-9B', arch: 'qwen35',
    nLayer: 32, nEmbd: 4096, nFf: 12288, nHead: 16, nHeadKv: 4, ssmVHeads: 32, tiedOutput: false },
  { ...QWEN35, name: '27b', description: 'Qwen3.5-27B', arch: 'qwen35',
    nLayer: 64, nEmbd: 5120, nFf: 17408, nHead: 24, nHeadKv: 4, ssmVHeads: 48, tiedOutput: false },
  { ...QWEN35, name: '35b-a3b', description: 'Qwen3.5-35B-A3B', arch: 'qwen35moe',
    nLayer: 40, nEmbd: 2048, nHead: 16, nHeadKv: 2, ssmVHeads: 32, tiedOutput: false,
    moe: { nExpert: 256, nExpertUsed: 8, nFfExp: 512, nFfShexp: 512 } },
  { ...QWEN35, name: '122b-a10b', description: 'Qwen3.5-122B-A10B', arch: 'qwen35moe',
    nLayer: 48, nEmbd: 3072, nHead: 32, nHeadKv: 2, ssmVHeads: 64, tiedOutput: false,
    moe: { nExpert: 256, nExpertUsed: 8, nFfExp: 1024, nFfShexp: 1024 } },
  { ...QWEN35, name: '397b-a17b', description: 'Qwen3.5-397B-A17B', arch: 'qwen35moe',
    nLayer: 60, nEmbd: 4096, nHead: 32, nHeadKv: 2, ssmVHeads: 64, tiedOutput: false,
    moe: { nExpert: 512, nExpertUsed: 10, nFfExp: 1024, nFfShexp: 1024 } },
];

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name);
}

export interface PresetOverrides {
  /**
   * Number of blocks, at least 2: llama.cpp aborts when evaluating a qwen35 model that lacks either
   * kind of block (its hybrid memory then has an empty KV cache or an empty recurrent state).
   * From 4 blocks up the pattern is the real one (block i is attention when (i + 1) % 4 == 0).
   * With 2 or 3 blocks full_attention_interval becomes the block count, so the last block is
   * attention and the others DeltaNet, as at the end of each group of 4 in the real models.
   */
  layers?: number;
}

/** The smallest block count llama.cpp can evaluate (one DeltaNet and one attention block). */
export const MIN_LAYERS = 2;

/** The preset called `name` with overrides applied; UserError for unknown names or bad values. */
export function resolvePreset(name: string, overrides: PresetOverrides = {}): SynthPreset {
  const preset = PRESETS.find((p) => p.name === name.toLowerCase());
  if (!preset) throw new UserError(`unknown synth preset "${name}"; presets: ${presetNames().join(', ')}`);
  const { layers } = overrides;
  if (layers === undefined) return preset;
  if (!Number.isSafeInteger(layers) || layers < MIN_LAYERS) {
    throw new UserError(
      `--layers must be a whole number ≥ ${MIN_LAYERS}, so that there is a DeltaNet and an attention block (got ${layers})`,
    );
  }
  return { ...preset, nLayer: layers, fullAttentionInterval: Math.min(preset.fullAttentionInterval, layers) };
}

/** Whether block `il` is a Gated DeltaNet block (llama.cpp's is_recurrent rule). */
export function isRecurrentLayer(preset: SynthPreset, il: number): boolean {
  return (il + 1) % preset.fullAttentionInterval !== 0;
}
