// Peak RSS of one engine alone, for docs/PERFORMANCE.md (petrel bench --vs runs both engines in one
// process, so its --extra rss cannot separate them): load the model, a 1024-token context, pp512,
// tg128, then print VmHWM. Needs a build (npm run build) and, for llama.cpp, node-llama-cpp.
//   node scripts/bench-rss.mjs petrel|llama.cpp model.gguf
import { readFileSync } from 'node:fs';
import { describeModelFile } from '../dist/bench/modelDescription.js';
import { openPetrel } from '../dist/bench/petrelEngine.js';
import { openLlamaPeer } from '../dist/bench/llamaPeer.js';
const [engineName, file] = process.argv.slice(2);
const model = describeModelFile(file);
const engine = engineName === 'petrel' ? await openPetrel(model, 2) : await openLlamaPeer(model, 2);
const seq = await engine.open(1024);
await seq.mark();
const toks = Int32Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 150000);
await seq.prompt(toks);
for (let i = 0; i < 128; i++) await seq.decode((i * 31 + 7) % 150000);
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
console.log(`${engineName}: peak RSS ${(Number(hwm) / 1024).toFixed(0)} MiB`);
await seq.dispose();
await engine.dispose();
