import { test } from 'vitest';
import { existsSync } from 'node:fs';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { synthesize } from '../../../src/synth/index.js';
test('35b', async () => {
  const file = '/tmp/scratch-35b.gguf';
  if (!existsSync(file)) { const t0 = performance.now(); await synthesize('35b-a3b', file, { type: 'q8_0', layers: 1, seed: 7 }); console.log('write s', (performance.now() - t0) / 1000); }
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.info, maxThreads: 2 });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, ignoreMemorySafetyChecks: true });
  console.log('loaded');
  const ctx = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2 });
  console.log('ctx');
  const seq = ctx.getSequence();
  const toks = model.tokenize('Hello world');
  const res = await seq.controlledEvaluate(toks.map((t, i) => i === toks.length - 1 ? [t, { generateNext: { logits: true } }] : t));
  console.log('eval', res.length);
});
