// llama.cpp loads what petrel quantize writes and computes what petrel's engine computes on it:
// for every type, next-token log-probabilities (mean KL, bound below) and greedy continuations (a
// first difference only where llama.cpp's own top-two gap is < 0.05).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/engine/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { synthesize } from '../../src/synth/index.js';
import { klDivergence, logSoftmax, openOracle } from '../support/llamaOracle.js';
import { makeTempDir } from '../synth/helpers.js';

const TYPES = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q2_k', 'q3_k_s', 'q3_k_m', 'q3_k_l', 'q4_k_s', 'q4_k_m',
  'q5_k_s', 'q5_k_m', 'q6_k', 'iq4_nl', 'iq4_xs', 'f16', 'bf16'];
const GREEDY = 16;
// About four times the largest mean KL measured over the types with every kernel table
// (PETREL_CPU_KERNELS=generic, avx2, avx512); q4_1 and q5_1 set it, the same on every table.
const MEAN_KL = 1e-3;

const tmp = makeTempDir('petrel-quantize-engine-');
afterAll(() => tmp.cleanup());

let src: string;
beforeAll(async () => {
  src = path.join(tmp.dir, 'tiny-moe-f32.gguf');
  await synthesize('tiny-moe', src, { type: 'f32', seed: 51 });
});

describe('petrel-quantized tiny-moe: petrel engine vs llama.cpp', () => {
  for (const type of TYPES) {
    it(type, { timeout: 120_000 }, async () => {
      const file = path.join(tmp.dir, `${type}.gguf`);
      await quantizeGguf({ input: src, output: file, type, threads: 2 });
      const model = await loadModel(file, { threads: 1 });
      const oracle = await openOracle(file, { threads: 1 });
      try {
        const nVocab = model.info.nVocab;
        expect(oracle.nVocab).toBe(nVocab);
        const prompt = Array.from({ length: 17 }, (_, i) => (i * 37 + 11) % Math.min(nVocab, 400));
        const session = model.createSession({ contextLength: 128, kvCacheType: 'f32' });
        const ours = (await session.evaluate(prompt, { logits: 'all' }))!;
        session.dispose();
        const theirs = await oracle.logits(prompt);
        let kl = 0;
        for (let t = 0; t < prompt.length; t++) {
          kl += klDivergence(logSoftmax(theirs[t]!), logSoftmax(ours.subarray(t * nVocab, (t + 1) * nVocab)));
        }
        console.log(`${type}: mean KL ${(kl / prompt.length).toExponential(2)}`);
        expect(kl / prompt.length, `${type} mean KL`).toBeLessThan(MEAN_KL);

        const expected = await oracle.greedy(prompt, GREEDY);
        const gen = model.createSession({ contextLength: 128, kvCacheType: 'f32' });
        await gen.prefill(prompt);
        const got: number[] = [];
        for await (const token of gen.generate({ maxTokens: GREEDY, sampling: { temperature: 0 } })) got.push(token);
        gen.dispose();
        const first = got.findIndex((tok, i) => tok !== expected.tokens[i]);
        if (first !== -1) expect(expected.gaps[first]!, `${type}: greedy differs at ${first}`).toBeLessThan(0.05);
      } finally {
        model.dispose();
        await oracle.dispose();
      }
    });
  }
});
