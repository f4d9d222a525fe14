// The engine against the float64 reference forward (test/support/referenceForward.ts) on every
// supported arch: qwen35 presets tiny (tied, Hv = 2·Hk), tiny-moe (MoE + shared expert),
// tiny-r3 (Hv = 3·Hk, untied), and the qwen3next / qwen3 / qwen3moe fixtures, with F32 weights;
// and llama.cpp-quantized Q8_0 / Q4_K_M weights against the reference of their dequantized values.
// The CPU backend rounds activations to the weight type's vec_dot type as llama.cpp does, which
// the float64 reference does not model, so its quantized files are compared with llama.cpp in
// llamacpp.test.ts and only loosely here; the Vulkan backend's prefill products keep activations
// in float, so here is its tight check for quantized weights.
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native/index.js';
import { loadReferenceModel } from '../support/referenceForward.js';
import path from 'node:path';
import { buildExtraArchSpec, EXTRA_ARCH_DIMS, writeExtraArch, writeGgufSpec } from '../fixtures/extraArchs.js';
import { loadTestModel, TEST_DEVICE } from './helpers/device.js';
import { LlamaFtype, llamaQuantize } from '../support/llamaQuantize.js';
import { compareLogits, extraArchModel, maxAbsDiff, presetModel, randomTokens, tempDir, type Diff } from './helpers/models.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const N_TOKENS = 20;
// Largest |Δlogit| over the largest |logit|: four times the largest value this file measures over its
// models with every kernel table (PETREL_CPU_KERNELS=generic, avx2, avx512), rounded up: float32
// round-off in another summation order stays below it, an error much beyond round-off does not.
const MAX_REL_DIFF = 4e-6;
const results: Record<string, Diff> = {};

async function check(name: string, file: string, nTokens = N_TOKENS, layerTypes?: string[]): Promise<void> {
  const model = await loadTestModel(file, { threads: 2 });
  if (layerTypes) expect(model.info.layerTypes).toEqual(layerTypes);
  const session = model.createSession({ kvCacheType: 'f32' });
  const tokens = randomTokens(nTokens, model.info.nVocab, 7);
  const logits = (await session.evaluate(tokens, { logits: 'all' }))!;
  const gguf = loadNative().openGguf(file);
  const reference = loadReferenceModel(gguf).logits(tokens);
  gguf.close();
  const diff = compareLogits(logits, reference);
  results[name] = diff;
  console.log(`[reference] ${name} (${nTokens} tokens): max |Δlogit| ${diff.maxAbs.toExponential(3)} over scale ${diff.scale.toFixed(3)} (rel ${diff.rel.toExponential(3)})`);
  expect(diff.rel).toBeLessThan(MAX_REL_DIFF);
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
  it('qwen3next with attention.recurrent_layers overriding the interval (and an MTP block)', async () => {
    const file = path.join(tmp.dir, 'qwen3next-flags.gguf');
    await writeExtraArch('qwen3next', file, { recurrentLayers: [false, true, true, false, false] });
    await check('qwen3next-flags', file, N_TOKENS, ['attention', 'deltanet', 'deltanet', 'attention']);
  });
});

// Quantized weights against the float64 reference forward of their dequantized values, 20 tokens
// in one prefill (the products of a prefill). Bounds as above: four times the largest measured on
// the device, rounded up (max |Δlogit| over the largest logit: the CPU's avx512 table 1.86e-2,
// Vulkan on lavapipe 6.7e-7). The CPU's is the error of its 8-bit activations (up to 0.19 in
// logits of about 10, llama.cpp's own rounding); the Vulkan one is float32 round-off.
const QUANT_REF_MAX_REL: Record<typeof TEST_DEVICE, number> = { cpu: 8e-2, vulkan: 3e-6 };

describe('quantized weights match the float64 reference of their dequantized values', () => {
  for (const [type, ftype] of [['q8_0', LlamaFtype.MOSTLY_Q8_0], ['q4_k_m', LlamaFtype.MOSTLY_Q4_K_M]] as const) {
    for (const preset of ['tiny-moe', 'qwen3next'] as const) {
      it(`${preset} ${type}`, async () => {
        const src = preset === 'qwen3next' ? await extraArchModel('qwen3next', tmp.dir) : await presetModel(preset);
        const file = path.join(tmp.dir, `${preset}-${type}.gguf`);
        llamaQuantize(src, file, ftype);
        const model = await loadTestModel(file, { threads: 2 });
        const session = model.createSession({ kvCacheType: 'f32' });
        const tokens = randomTokens(N_TOKENS, model.info.nVocab, 9);
        const logits = (await session.evaluate(tokens, { logits: 'all' }))!;
        session.dispose();
        model.dispose();
        const gguf = loadNative().openGguf(file);
        const reference = loadReferenceModel(gguf).logits(tokens);
        gguf.close();
        const diff = compareLogits(logits, reference);
        console.log(`[reference ${TEST_DEVICE}] ${preset} ${type}: max |Δlogit| ${diff.maxAbs.toExponential(3)} over scale ${diff.scale.toFixed(3)} (rel ${diff.rel.toExponential(3)})`);
        expect(diff.rel).toBeLessThan(QUANT_REF_MAX_REL[TEST_DEVICE]);
      });
    }
  }
});

describe('weight layouts', () => {
  it('a fused ffn_gate_up_exps gives the same logits as separate gate and up experts', async () => {
    const separate = await extraArchModel('qwen3moe', tmp.dir);
    const gguf = loadNative().openGguf(separate);
    const spec = buildExtraArchSpec('qwen3moe');
    const { nEmbd, nLayer, moe } = EXTRA_ARCH_DIMS.qwen3moe;
    const { nExpert, nFfExp } = moe!;
    for (let il = 0; il < nLayer; il++) {
      const gate = gguf.dequantize(`blk.${il}.ffn_gate_exps.weight`);
      const up = gguf.dequantize(`blk.${il}.ffn_up_exps.weight`);
      const fused = new Float32Array(2 * gate.length);
      const slab = nFfExp * nEmbd;
      for (let e = 0; e < nExpert; e++) {
        fused.set(gate.subarray(e * slab, (e + 1) * slab), 2 * e * slab);
        fused.set(up.subarray(e * slab, (e + 1) * slab), (2 * e + 1) * slab);
      }
      spec.tensors = spec.tensors.filter((t) => t.name !== `blk.${il}.ffn_gate_exps.weight` && t.name !== `blk.${il}.ffn_up_exps.weight`);
      spec.tensors.push({ name: `blk.${il}.ffn_gate_up_exps.weight`, shape: [nEmbd, 2 * nFfExp, nExpert], type: 0, source: { kind: 'f32', data: fused } });
    }
    gguf.close();
    const fusedFile = await writeGgufSpec(path.join(tmp.dir, 'qwen3moe-fused.gguf'), spec);
    const tokens = randomTokens(12, 512, 5);
    const run = async (file: string) => {
      const m = await loadTestModel(file, { threads: 2 });
      const s = m.createSession({ kvCacheType: 'f32' });
      const logits = (await s.evaluate(tokens, { logits: 'all' }))!;
      s.dispose();
      m.dispose();
      return logits;
    };
    expect(maxAbsDiff(await run(fusedFile), await run(separate))).toBeLessThan(1e-5);
  });
});
