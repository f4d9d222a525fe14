// Synthetic-model recipes (native/synth/recipe.h): the model's metadata and, under
// petrel.recipe.*, each tensor's name, type, shape and random source, with no tensor data. A few
// MiB describe a multi-GB model, and the native tool petrel_synth writes the very same file from
// it where Node does not run (the GPU machine).
import type { GgufKv, GgufWriteSpec } from '../native/index.js';
import { loadNative } from '../native/index.js';
import type { SynthModel } from './synthModel.js';

export const RECIPE_VERSION = 1;

/** The recipe of a synthetic model as a GGUF spec with no tensors. */
export function recipeSpec(model: SynthModel): GgufWriteSpec {
  const tensors = model.spec.tensors;
  const sources = tensors.map((t) => {
    if (t.source.kind !== 'random') throw new Error(`${t.name}: only random tensors go into a recipe`);
    return t.source;
  });
  const arr = (key: string, itemType: GgufKv['type'], value: (number | string)[]): GgufKv => ({
    key: `petrel.recipe.${key}`,
    type: 'arr',
    itemType,
    value,
  });
  const recipe: GgufKv[] = [
    { key: 'petrel.recipe.version', type: 'u32', value: RECIPE_VERSION },
    arr('names', 'str', tensors.map((t) => t.name)),
    arr('types', 'u32', tensors.map((t) => t.type)),
    arr('ndims', 'u32', tensors.map((t) => t.shape.length)),
    arr('shape', 'i64', tensors.flatMap((t) => t.shape)),
    arr('seeds', 'u64', sources.map((s) => s.seed)),
    arr('means', 'f64', sources.map((s) => s.mean)),
    arr('stds', 'f64', sources.map((s) => s.std)),
    arr('transforms', 'u8', sources.map((s) => (s.transform === 'neg_exp' ? 1 : 0))),
  ];
  return {
    ...(model.spec.alignment !== undefined ? { alignment: model.spec.alignment } : {}),
    metadata: [...model.spec.metadata, ...recipe],
    tensors: [],
  };
}

export async function writeRecipe(model: SynthModel, outPath: string): Promise<void> {
  await loadNative().writeGguf(outPath, recipeSpec(model));
}

/** The model a recipe describes, written to `outPath` (what petrel_synth does, through the addon). */
export async function writeFromRecipe(
  recipePath: string,
  outPath: string,
  onProgress?: (written: number, total: number) => void,
): Promise<void> {
  await loadNative().writeGgufFromRecipe(outPath, recipePath, onProgress);
}
