// llama.cpp (node-llama-cpp's prebuilt CPU build) loads every synthetic preset and computes sane
// logits: finite, not all equal, and different for different inputs. Full shapes run with a
// reduced block count; the multi-GB ones only with PETREL_TEST_LARGE=1.
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesize, type WeightType } from '../../src/synth/index.js';
import { TINY_VOCAB_SIZE } from '../../src/synth/tokenizer/tinyVocab.js';
import { cpuLlama, lastLogits, makeTempDir } from './helpers.js';
import { skipIfReason, unlessLarge } from '../support/skip.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

interface Case {
  preset: string;
  type: WeightType;
  layers?: number;
  /** Multi-GB: only with PETREL_TEST_LARGE=1. */
  large?: boolean;
}

const CASES: Case[] = [
  ...['tiny', 'tiny-moe', 'tiny-r3'].flatMap((preset) => (['f32', 'q8_0'] as const).map((type) => ({ preset, type }))),
  // 0.8b with the real 4-block group (3 DeltaNet + 1 attention): ~350 MiB, the one full-vocab
  // model of the default run. The rest have 2 blocks (1 DeltaNet + 1 attention, the minimum llama.cpp
  // evaluates) and are 0.7–16 GB: PETREL_TEST_LARGE=1.
  { preset: '0.8b', type: 'q8_0', layers: 4 },
  { preset: '2b', type: 'q8_0', layers: 2, large: true },
  { preset: '4b', type: 'q8_0', layers: 2, large: true },
  { preset: '9b', type: 'q8_0', layers: 2, large: true },
  { preset: '27b', type: 'q8_0', layers: 2, large: true },
  { preset: '35b-a3b', type: 'q8_0', layers: 2, large: true },
  { preset: '122b-a10b', type: 'q8_0', layers: 2, large: true },
  { preset: '397b-a17b', type: 'q8_0', layers: 2, large: true },
];

describe('llama.cpp loads synthetic models', () => {
  for (const c of CASES) {
    const label = `${c.preset} ${c.type}${c.layers ? ` (${c.layers} layers)` : ''}`;
    it(label, { timeout: c.large ? 3_600_000 : 300_000 }, async (ctx) => {
      if (c.large) skipIfReason(ctx, unlessLarge());
      const file = path.join(tmp.dir, `${c.preset}-${c.type}.gguf`);
      const t0 = performance.now();
      const written = await synthesize(c.preset, file, { type: c.type, layers: c.layers, seed: 7 });
      const tWrite = performance.now() - t0;
      try {
        const llama = await cpuLlama();
        const t1 = performance.now();
        const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, ignoreMemorySafetyChecks: true });
        const tLoad = performance.now() - t1;
        try {
          const chat = model.tokenize('<|im_start|>user\nWhat is a petrel?<|im_end|>\n', true);
          const plain = model.tokenize('The storm petrel flies low over the waves.');
          expect(model.tokens.eos).toBe(model.tokenize('<|im_end|>', true)[0]);
          if (!c.preset.startsWith('tiny')) expect([chat[0], model.tokens.eos]).toEqual([248045, 248046]);
          const t2 = performance.now();
          const a = await lastLogits(model, chat);
          const b = await lastLogits(model, plain);
          const tEval = performance.now() - t2;
          for (const r of [a, b]) {
            expect(r.nVocab).toBe(c.preset.startsWith('tiny') ? TINY_VOCAB_SIZE : 248320);
            expect(r.finite).toBe(true);
            expect(r.max).toBeGreaterThan(r.min + 1e-3);
            expect(Math.max(Math.abs(r.min), Math.abs(r.max))).toBeLessThan(1e3);
          }
          expect(a.logits).not.toEqual(b.logits);
          // Timing and size go to the log: they are the numbers quoted for these presets.
          console.log(
            `${label}: ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB, ${written.tensors} tensors, ` +
              `${(written.params / 1e6).toFixed(0)}M params; write ${(tWrite / 1000).toFixed(1)} s, ` +
              `load ${(tLoad / 1000).toFixed(1)} s, eval ${(tEval / 1000).toFixed(1)} s; ` +
              `logits ${a.min.toFixed(2)}..${a.max.toFixed(2)}; peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`,
          );
        } finally {
          await model.dispose();
        }
      } finally {
        rmSync(file, { force: true });
      }
    });
  }
});
