// Child-process probe for memory.test.ts: loads a model with the addon given in PETREL_ADDON,
// evaluates a few tokens, and prints what the kernel says about this process's memory and reads
// (VmRSS / VmHWM from /proc/self/status, rchar from /proc/self/io) at each step, as JSON.
// Run alone so that nothing else (test runner, file writer) shares the process's peak.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [modelPath, nTokensArg] = process.argv.slice(2);
const addon = createRequire(import.meta.url)(process.env.PETREL_ADDON);

function probe() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const io = readFileSync('/proc/self/io', 'utf8');
  const rchar = Number(/^rchar:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
  const sm = readFileSync("/proc/self/smaps_rollup", "utf8");
  const k2 = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(sm)?.[1] ?? NaN) * 1024;
  return { rss: kib("VmRSS"), hwm: kib("VmHWM"), rchar, anon: k2("Anonymous"), file: k2("Rss") - k2("Anonymous") };
}

const before = probe();
const model = await addon.loadModel(modelPath, { threads: 2 });
const afterLoad = probe();
const session = model.createSession();
const n = Number(nTokensArg ?? 8);
const tokens = Int32Array.from({ length: n }, (_, i) => (i * 7919) % model.info.nVocab);
await session.evaluate(tokens, 'last', false);
await session.evaluate(Int32Array.of(1), 'last', false);
const afterEval = probe();
const info = model.info;
process.stdout.write(
  JSON.stringify({ before, afterLoad, afterEval, stateBytes: info.stateBytes, kvBytesPerToken: info.kvBytesPerToken, position: session.position }) + '\n',
);
session.dispose();
model.dispose();
