// The engine against the float64 reference forward (test/support/referenceForward.ts) on every
// supported arch: qwen35 presets tiny (tied, Hv = 2·Hk), tiny-moe (MoE + shared expert),
// tiny-r3 (Hv = 3·Hk, untied), and the qwen3next / qwen3 / qwen3moe fixtures.
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/engine/index.js';
import { loadNative } from '../../src/engine/native.js';
import { loadReferenceModel } from '../support/referenceForward.js';
import { compareLogits, extraArchModel, presetModel, randomTokens, tempDir, type Diff } from './helpers/models.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const N_TOKENS = 20;
const results: Record<string, Diff> = {};

async function check(name: string, file: string, nTokens = N_TOKENS): Promise<void> {
  const model = await loadModel(file, { threads: 2 });
  const session = model.createSession();
  const tokens = randomTokens(nTokens, model.info.nVocab, 7);
  const logits = (await session.evaluate(tokens, { logits: 'all' }))!;
  const gguf = loadNative().openGguf(file);
  const reference = loadReferenceModel(gguf).logits(tokens);
  gguf.close();
  const diff = compareLogits(logits, reference);
  results[name] = diff;
  console.log(`[reference] ${name} (${nTokens} tokens): max |Δlogit| ${diff.maxAbs.toExponential(3)} over scale ${diff.scale.toFixed(3)} (rel ${diff.rel.toExponential(3)})`);
  expect(diff.rel).toBeLessThan(1e-3);
  session.dispose();
  model.dispose();
}

describe('engine logits match the float64 reference', () => {
  for (const preset of ['tiny', 'tiny-moe', 'tiny-r3']) {
    it(`qwen35 preset ${preset}`, async () => {
      await check(preset, await presetModel(preset));
    });
  }
  it('qwen35 preset tiny over 150 tokens (several 64-token DeltaNet chunks)', async () => {
    await check('tiny-150', await presetModel('tiny'), 150);
  });
  for (const arch of ['qwen3next', 'qwen3', 'qwen3moe'] as const) {
    it(`${arch} fixture`, async () => {
      await check(arch, await extraArchModel(arch, tmp.dir));
    });
  }
});
