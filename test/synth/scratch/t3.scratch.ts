import { test } from 'vitest';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { buildSynthModel } from '../../../src/synth/synthModel.js';
import { encode } from '../../../src/synth/tokenizer/bpeEncode.js';
import { writeF32Gguf } from './tsGguf.js';
test('load', async () => {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
  const name = '0.8b';
  const m = buildSynthModel(name, { type: 'f32', layers: 4 });
  const p = `/tmp/scratch-${name}.gguf`;
  let t0 = performance.now();
  writeF32Gguf(p, m.spec);
  console.log('write ms', performance.now() - t0);
  t0 = performance.now();
  const model = await llama.loadModel({ modelPath: p });
  console.log('load ms', performance.now() - t0, model.tokens.eos, model.tokens.bos, model.tokens.nl);
  for (const s of ['Hello world', '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n', 'café 🚀 1234 你好', '[PAD151700]']) {
    const a = model.tokenize(s, true);
    const b = encode(m.vocab, s, { parseSpecial: true });
    console.log(JSON.stringify(s), JSON.stringify(a), JSON.stringify(b), JSON.stringify(model.detokenize(a, true)));
  }
  const ctx = await model.createContext({ contextSize: 256 });
  const seq = ctx.getSequence();
  const toks = model.tokenize('Hello world, the petrel flies.');
  t0 = performance.now();
  const res = await seq.controlledEvaluate(toks.map((t, i) => i === toks.length - 1 ? [t, { generateNext: { logits: true } }] : t));
  const logits = [...(res[toks.length - 1]!.next!.logits as Map<number, number>).values()];
  let mn = Infinity, mx = -Infinity; for (const v of logits) { mn = Math.min(mn, v); mx = Math.max(mx, v); }
  console.log('n', logits.length, mn, mx, logits.every(Number.isFinite), 'eval ms', performance.now() - t0);
  await ctx.dispose(); await model.dispose();
});
