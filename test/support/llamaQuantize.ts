// llama.cpp's own quantizer (llama_model_quantize from the libllama that node-llama-cpp ships),
// called through koffi, so tests can check that GGUFs written by llama.cpp's tools read in petrel
// and compare petrel's quantizer with it (requantizing, importance matrices).
// The struct layout is llama_model_quantize_params from include/llama.h of the llama.cpp release
// node-llama-cpp was built from (node_modules/node-llama-cpp/llama/llama.cpp.info.json: v0.5.0).
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import koffi from 'koffi';

/** llama_ftype values used by the tests. */
export const LlamaFtype = { MOSTLY_Q8_0: 7, MOSTLY_Q4_K_M: 15 } as const;

const QuantizeParams = koffi.struct('llama_model_quantize_params', {
  nthread: 'int32_t',
  ftype: 'int32_t', // enum llama_ftype
  output_tensor_type: 'int32_t', // enum ggml_type
  token_embedding_type: 'int32_t', // enum ggml_type
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

const ImatrixData = koffi.struct('llama_model_imatrix_data', {
  name: 'const char *',
  data: 'const float *',
  size: 'size_t',
});

interface LlamaQuantizeApi {
  defaultParams: () => Record<string, unknown>;
  quantize: (input: string, output: string, params: Record<string, unknown>) => number;
}

let api: LlamaQuantizeApi | undefined;
/** Kept referenced for as long as libllama may call it. */
let silentLog: unknown;

/** The directory of node-llama-cpp's prebuilt CPU binaries for this platform. */
export function llamaBinDir(): string {
  const platform = `${process.platform}-${process.arch}`;
  // Resolved from node-llama-cpp itself, which may have the binary package nested under it.
  const fromNlc = createRequire(createRequire(import.meta.url).resolve('node-llama-cpp'));
  const entry = fromNlc.resolve(`@node-llama-cpp/${platform}`); // <pkg>/dist/index.js
  const dir = path.join(path.dirname(entry), '..', 'bins', platform);
  if (!existsSync(dir)) throw new Error(`no prebuilt llama.cpp binaries in ${dir}`);
  return dir;
}

function loadApi(): LlamaQuantizeApi {
  if (api) return api;
  const dir = llamaBinDir();
  const lib = readdirSync(dir).find((f) => /^libllama(\.v[\d.]+)?\.so$/.test(f));
  if (!lib) throw new Error(`no libllama in ${dir}`);
  const llama = koffi.load(path.join(dir, lib));
  llama.func('void llama_backend_init(void)')();
  // The quantizer prints a line per tensor; keep the test output readable.
  const LogCallback = koffi.proto('void llama_synth_log_cb(int level, const char *text, void *user_data)');
  silentLog = koffi.register(() => {}, koffi.pointer(LogCallback));
  llama.func('void llama_log_set(llama_synth_log_cb *cb, void *user_data)')(silentLog, null);
  api = {
    defaultParams: llama.func('llama_model_quantize_default_params', QuantizeParams, []) as () => Record<string, unknown>,
    quantize: llama.func('llama_model_quantize', 'uint32_t', ['str', 'str', koffi.pointer(QuantizeParams)]),
  };
  return api;
}

export interface LlamaQuantizeOptions {
  /** Default 2. */
  threads?: number;
  /** Quantize tensors that already are (llama-quantize --allow-requantize). */
  allowRequantize?: boolean;
  /** tensor name -> importance values (ne0 * n_expert), as llama-quantize passes them. */
  imatrix?: Map<string, Float32Array>;
}

/** Runs llama.cpp's quantizer on `input`; throws when it reports failure. */
export function llamaQuantize(input: string, output: string, ftype: number, options: LlamaQuantizeOptions = {}): void {
  const { defaultParams, quantize } = loadApi();
  const params: Record<string, unknown> = {
    ...defaultParams(),
    ftype,
    nthread: options.threads ?? 2,
    allow_requantize: options.allowRequantize ?? false,
  };
  if (options.imatrix) {
    const entries = [...options.imatrix].map(([name, data]) => ({ name, data, size: data.length }));
    entries.push({ name: null as unknown as string, data: null as unknown as Float32Array, size: 0 });
    // koffi marshals the array (strings and float arrays included) for the duration of the call.
    params.imatrix = koffi.as(entries, koffi.pointer(ImatrixData));
  }
  const rc = quantize(input, output, params);
  if (rc !== 0) throw new Error(`llama_model_quantize(${input} -> ${output}, ftype ${ftype}) returned ${rc}`);
}
