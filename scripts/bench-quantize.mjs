// Quantization time against llama.cpp's quantizer (llama_model_quantize from the libllama that
// node-llama-cpp ships, called through koffi) on the same synthetic F16 input and thread count, for
// docs/PERFORMANCE.md. Prints one line per type; asserts nothing (timings depend on the machine).
// Needs a build (npm run build) and the dev dependencies (node-llama-cpp, koffi).
//   node scripts/bench-quantize.mjs [--preset 0.8b] [--layers 8] [--threads 2] [--types q8_0,q4_k_m,iq4_xs]
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import koffi from 'koffi';
import { quantizeGguf } from '../dist/quantize/index.js';
import { synthesize } from '../dist/synth/index.js';

/** llama_ftype of each type llama-quantize names the same way. */
const FTYPES = { q8_0: 7, q4_0: 2, q2_k: 10, q3_k_m: 12, q4_k_m: 15, q5_k_m: 17, q6_k: 18, iq4_nl: 25, iq4_xs: 30 };

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: '0.8b' },
    layers: { type: 'string', default: '8' },
    threads: { type: 'string', default: '2' },
    types: { type: 'string', default: 'q8_0,q4_k_m,iq4_xs' },
  },
});
const layers = Number(values.layers);
const threads = Number(values.threads);
const types = values.types.split(',');
for (const t of types) {
  if (!(t in FTYPES)) throw new Error(`--types: ${t} is not one of ${Object.keys(FTYPES).join(', ')}`);
}

// llama_model_quantize_params of include/llama.h in the llama.cpp release node-llama-cpp was built
// from (the same layout test/support/llamaQuantize.ts uses).
const QuantizeParams = koffi.struct('llama_model_quantize_params', {
  nthread: 'int32_t',
  ftype: 'int32_t',
  output_tensor_type: 'int32_t',
  token_embedding_type: 'int32_t',
  allow_requantize: 'bool',
  quantize_output_tensor: 'bool',
  only_copy: 'bool',
  pure: 'bool',
  keep_split: 'bool',
  dry_run: 'bool',
  imatrix: 'void *',
  kv_overrides: 'void *',
  tt_overrides: 'void *',
  prune_layers: 'void *',
  max_buf_size: 'size_t',
});

function openLlamaQuantize() {
  const platform = `${process.platform}-${process.arch}`;
  const fromNlc = createRequire(createRequire(import.meta.url).resolve('node-llama-cpp'));
  const dir = path.join(path.dirname(fromNlc.resolve(`@node-llama-cpp/${platform}`)), '..', 'bins', platform);
  const lib = existsSync(dir) ? readdirSync(dir).find((f) => /^libllama(\.v[\d.]+)?\.so$/.test(f)) : undefined;
  if (!lib) throw new Error(`no libllama in ${dir}`);
  const llama = koffi.load(path.join(dir, lib));
  llama.func('void llama_backend_init(void)')();
  // The quantizer prints a line per tensor; keep the table readable.
  const LogCallback = koffi.proto('void bench_quantize_log_cb(int level, const char *text, void *user_data)');
  const silent = koffi.register(() => {}, koffi.pointer(LogCallback));
  llama.func('void llama_log_set(bench_quantize_log_cb *cb, void *user_data)')(silent, null);
  const defaults = llama.func('llama_model_quantize_default_params', QuantizeParams, []);
  const quantize = llama.func('llama_model_quantize', 'uint32_t', ['str', 'str', koffi.pointer(QuantizeParams)]);
  return (input, output, ftype) => {
    const rc = quantize(input, output, { ...defaults(), ftype, nthread: threads, allow_requantize: true });
    if (rc !== 0) throw new Error(`llama_model_quantize(${input} -> ${output}, ftype ${ftype}) returned ${rc}`);
  };
}

const llamaQuantize = openLlamaQuantize();
const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-quantize-'));
try {
  const src = path.join(dir, `${values.preset}-f16.gguf`);
  await synthesize(values.preset, src, { type: 'f16', layers, seed: 1 });
  console.log(`${values.preset}, ${layers} layers, F16 input, ${threads} threads`);
  for (const type of types) {
    const ours = path.join(dir, `${type}-petrel.gguf`);
    const theirs = path.join(dir, `${type}-llama.gguf`);
    let t = performance.now();
    llamaQuantize(src, theirs, FTYPES[type]);
    const llama = (performance.now() - t) / 1000;
    t = performance.now();
    await quantizeGguf({ input: src, output: ours, type, threads, force: true });
    const petrel = (performance.now() - t) / 1000;
    console.log(`${type.padEnd(8)} petrel ${petrel.toFixed(2)} s   llama.cpp ${llama.toFixed(2)} s   ratio ${(llama / petrel).toFixed(2)}x`);
    rmSync(ours);
    rmSync(theirs);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
