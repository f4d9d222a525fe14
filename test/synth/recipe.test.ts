// Synth recipes: the model written from a recipe (the native path petrel_synth takes on machines
// without Node) is byte for byte the file `petrel synth` writes directly, for dense, MoE and
// 3:1-head presets and another seed; a recipe that lies about its tensors is refused.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildSynthModel, synthesize, writeFromRecipe, writeRecipe } from '../../src/synth/index.js';
import { tempDir } from '../engine/helpers/models.js';

const tmp = tempDir('petrel-recipe-');
afterAll(() => tmp.cleanup());

describe('synth recipe', () => {
  it.each([
    ['tiny', 0],
    ['tiny-moe', 0],
    ['tiny-r3', 7],
  ])('%s (seed %i): the model from the recipe is the file synth writes', async (preset, seed) => {
    const direct = path.join(tmp.dir, `${preset}.gguf`);
    const recipe = path.join(tmp.dir, `${preset}.recipe.gguf`);
    const fromRecipe = path.join(tmp.dir, `${preset}.from-recipe.gguf`);
    await synthesize(preset, direct, { seed });
    await writeRecipe(buildSynthModel(preset, { seed }), recipe);
    await writeFromRecipe(recipe, fromRecipe);
    const a = readFileSync(direct);
    const b = readFileSync(fromRecipe);
    expect(readFileSync(recipe).length).toBeLessThan(a.length / 4);
    expect(b.length).toBe(a.length);
    expect(b.equals(a)).toBe(true);
  });

  it('refuses a file that is not a recipe, and a recipe whose arrays disagree', async () => {
    const model = path.join(tmp.dir, 'plain.gguf');
    await synthesize('tiny', model);
    await expect(writeFromRecipe(model, path.join(tmp.dir, 'x.gguf'))).rejects.toThrow(/not a petrel synth recipe/);

    const recipe = path.join(tmp.dir, 'bad.recipe.gguf');
    await writeRecipe(buildSynthModel('tiny'), recipe);
    // Rename one tensor's key prefix in place: the names array now misses a key it needs.
    const bytes = readFileSync(recipe);
    const at = bytes.indexOf('petrel.recipe.stds');
    expect(at).toBeGreaterThan(0);
    bytes.write('petrel.recipe.stdz', at, 'latin1');
    writeFileSync(recipe, bytes);
    await expect(writeFromRecipe(recipe, path.join(tmp.dir, 'y.gguf'))).rejects.toThrow(/petrel\.recipe\.stds/);
  });
});
