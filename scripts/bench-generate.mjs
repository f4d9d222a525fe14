// tg through the TypeScript API, sampling included, for docs/PERFORMANCE.md (the loop around the
// engine should keep >= 95% of `petrel bench`'s tg128): prefill 16 tokens, then
// session.generate() 128 tokens with temperature 0.8, top-k 40, top-p 0.95; three runs. Needs a
// build (npm run build).
//   node scripts/bench-generate.mjs model.gguf
import { loadModel } from '../dist/engine/index.js';

const model = await loadModel(process.argv[2], { threads: 2 });
for (let rep = 0; rep < 3; rep++) {
  const session = model.createSession({ contextLength: 4096 });
  await session.prefill(Array.from({ length: 16 }, (_, i) => 1000 + i));
  const started = performance.now();
  let n = 0;
  for await (const _ of session.generate({ maxTokens: 128, sampling: { temperature: 0.8, topK: 40, topP: 0.95, seed: rep } })) n++;
  console.log(`generate: ${n} tokens, ${((n / (performance.now() - started)) * 1000).toFixed(2)} t/s`);
  session.dispose();
}
model.dispose();
