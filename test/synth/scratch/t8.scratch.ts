import { test } from 'vitest';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { synthesize } from '../../../src/synth/index.js';
test('tiny L', async () => {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 2 });
  const [preset, layers] = [process.env.P!, Number(process.env.L)];
  const file = `/tmp/scratch-${preset}-L${layers}.gguf`;
  await synthesize(preset, file, { type: 'f32', layers, seed: 7 });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2 });
  const seq = ctx.getSequence();
  const toks = model.tokenize('Hello world');
  const res = await seq.controlledEvaluate(toks.map((t, i) => i === toks.length - 1 ? [t, { generateNext: { logits: true } }] : t));
  console.log('OK', preset, layers, res.length);
});
