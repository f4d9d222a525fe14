// Turns a preset into a complete GgufWriteSpec (metadata + tensors with random sources) and writes
// it with the native streaming writer. Building the spec needs no addon, so tests can check names,
// shapes and keys without one; the values themselves are generated in C++ from (seed, index).
import type { GgufWriteSpec } from '../native/index.js';
import { loadNative } from '../native/index.js';
import { buildMetadata } from './metadata.js';
import { resolvePreset, type SynthPreset } from './presets.js';
import { planTensors, tensorElements, type PlannedTensor } from './tensorPlan.js';
import { qwenVocab } from './tokenizer/qwenVocab.js';
import { tinyVocab } from './tokenizer/tinyVocab.js';
import type { SynthVocab } from './tokenizer/vocab.js';
import { tensorBytes, type WeightType } from './weightTypes.js';

export interface SynthOptions {
  /** Block count override (see PresetOverrides.layers). */
  layers?: number;
  /** Type of the 2-D/3-D weights; the preset's default when omitted. */
  type?: WeightType;
  /** Global seed (a 32-bit unsigned integer); 0 when omitted. */
  seed?: number;
}

export interface SynthModel {
  preset: SynthPreset;
  weightType: WeightType;
  seed: number;
  vocab: SynthVocab;
  tensors: PlannedTensor[];
  spec: GgufWriteSpec;
  /** Total parameters (elements of all tensors). */
  nParams: number;
  /** Bytes of tensor data, before alignment padding. */
  dataBytes: number;
}

export function vocabFor(preset: SynthPreset): SynthVocab {
  return preset.vocab === 'tiny' ? tinyVocab() : qwenVocab();
}

export function buildSynthModel(presetName: string, options: SynthOptions = {}): SynthModel {
  const preset = resolvePreset(presetName, { layers: options.layers });
  const weightType = options.type ?? preset.defaultType;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in 0..4294967295 (got ${seed})`);
  }
  const vocab = vocabFor(preset);
  const tensors = planTensors(preset, vocab.tokens.length, weightType);
  const spec: GgufWriteSpec = {
    metadata: buildMetadata(preset, vocab, tensors, weightType),
    tensors: tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      type: t.type,
      source: { kind: 'random', seed: tensorSeed(seed, t.name), ...t.init },
    })),
  };
  let nParams = 0;
  let dataBytes = 0;
  for (const t of tensors) {
    nParams += tensorElements(t);
    dataBytes += tensorBytes(t.type, tensorElements(t));
  }
  return { preset, weightType, seed, vocab, tensors, spec, nParams, dataBytes };
}

/** Streams the model to `outPath` (the writer uses a temporary file, then renames). */
export async function writeSynthModel(
  model: SynthModel,
  outPath: string,
  onProgress?: (written: number, total: number) => void,
): Promise<void> {
  await loadNative().writeGguf(outPath, model.spec, onProgress);
}

/**
 * Per-tensor seed: FNV-1a (32-bit) over "<global seed>/<tensor name>", so every tensor has its own
 * stream, a tensor keeps its values when other tensors are added or removed (e.g. --layers), and
 * changing the global seed changes every tensor.
 */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(`${seed}/${name}`, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
