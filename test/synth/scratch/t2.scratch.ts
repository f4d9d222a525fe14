import { test } from 'vitest';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { buildSynthModel } from '../../../src/synth/synthModel.js';
import { writeF32Gguf } from './tsGguf.js';
test('load', async () => {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
  for (const name of ['tiny', 'tiny-moe', 'tiny-r3']) {
    const m = buildSynthModel(name, { type: 'f32' });
    const p = `/tmp/scratch-${name}.gguf`;
    writeF32Gguf(p, m.spec);
    const t0 = performance.now();
    const model = await llama.loadModel({ modelPath: p });
    const ctx = await model.createContext({ contextSize: 256 });
    const seq = ctx.getSequence();
    const toks = model.tokenize('Hello world, the petrel flies.');
    console.log(name, 'tokens', toks);
    const res = await seq.controlledEvaluate(toks.map((t, i) => i === toks.length - 1 ? [t, { generateNext: { logits: true } }] : t));
    const last = res[toks.length - 1]!;
    const logits = [...(last.next!.logits as Map<number, number>).values()];
    console.log(name, 'n', logits.length, 'min', Math.min(...logits), 'max', Math.max(...logits), 'finite', logits.every(Number.isFinite), 'ms', performance.now() - t0);
    await ctx.dispose(); await model.dispose();
  }
});
