// Programmatic API of the synthetic-model module: write a random-weight Qwen3.5 GGUF, or get a
// cached one for tests and benchmarks.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildSynthModel, writeSynthModel, type SynthOptions } from './synthModel.js';

export { PRESETS, presetNames, resolvePreset, isRecurrentLayer } from './presets.js';
export type { SynthPreset, SynthArch, SynthMoe, PresetOverrides } from './presets.js';
export { WEIGHT_TYPES, isWeightType } from './weightTypes.js';
export type { WeightType } from './weightTypes.js';
export { buildSynthModel, tensorSeed, vocabFor } from './synthModel.js';
export type { SynthModel, SynthOptions } from './synthModel.js';
export { recipeSpec, writeFromRecipe, writeRecipe } from './recipe.js';
export type { SynthVocab } from './tokenizer/vocab.js';

/**
 * Bumped whenever the bytes written for a given (preset, layers, type, seed) change, so cached
 * files from an older petrel are not reused.
 */
export const SYNTH_FORMAT_VERSION = 2;

export interface SynthesizeOptions extends SynthOptions {
  onProgress?: (written: number, total: number) => void;
}

export interface SynthResult {
  path: string;
  preset: string;
  type: string;
  layers: number;
  seed: number;
  /** Size of the written file in bytes. */
  bytes: number;
  tensors: number;
  params: number;
}

/** Writes preset `preset` to `outPath`, replacing any file there. */
export async function synthesize(preset: string, outPath: string, options: SynthesizeOptions = {}): Promise<SynthResult> {
  const model = buildSynthModel(preset, options);
  await writeSynthModel(model, outPath, options.onProgress);
  return {
    path: outPath,
    preset: model.preset.name,
    type: model.weightType,
    layers: model.preset.nLayer,
    seed: model.seed,
    bytes: statSync(outPath).size,
    tensors: model.tensors.length,
    params: model.nParams,
  };
}

export interface EnsureSynthOptions extends SynthOptions {
  /** Directory of cached models; created when missing. */
  cacheDir: string;
}

/**
 * Path of a cached synthetic model, written on first use. The file name holds everything that
 * determines its bytes, so a cached file is valid forever (the writer renames into place, so a
 * concurrent caller never sees a partial file).
 */
export async function ensureSynthModel(preset: string, options: EnsureSynthOptions): Promise<string> {
  const model = buildSynthModel(preset, options);
  const file = path.join(
    options.cacheDir,
    `${model.preset.name}-l${model.preset.nLayer}-${model.weightType}-s${model.seed}-v${SYNTH_FORMAT_VERSION}.gguf`,
  );
  if (existsSync(file)) return file;
  mkdirSync(options.cacheDir, { recursive: true });
  await writeSynthModel(model, file);
  return file;
}
