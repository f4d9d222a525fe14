// llama.cpp's quantizer and ggml_quantize_chunk with the options the quantize tests need and
// test/support's wrappers leave out: requantizing (allow_requantize) and importance matrices
// (llama_model_quantize_params.imatrix, the imatrix argument of ggml_quantize_chunk). Struct layouts
// are those of include/llama.h in llama.cpp release v0.5.0 (what node-llama-cpp 3.22.1 ships).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { ggmlBaseLibrary } from '../support/ggmlRef.js';
import { llamaBinDir } from '../support/llamaQuantize.js';

const QuantizeParams = koffi.struct('petrel_q_llama_model_quantize_params', {
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
});
const ImatrixData = koffi.struct('petrel_q_llama_model_imatrix_data', {
  name: 'const char *',
  data: 'const float *',
  size: 'size_t',
});

type Fn = (...args: unknown[]) => unknown;
let llama: { defaults: () => Record<string, unknown>; quantize: Fn } | undefined;
let silentLog: unknown;

function llamaApi() {
  if (llama) return llama;
  const dir = llamaBinDir();
  const file = readdirSync(dir).find((f) => /^libllama(\.v[\d.]+)?\.so$/.test(f));
  if (!file) throw new Error(`no libllama in ${dir}`);
  const lib = koffi.load(path.join(dir, file));
  lib.func('void llama_backend_init(void)')();
  const LogCallback = koffi.proto('void petrel_q_log_cb(int level, const char *text, void *user_data)');
  silentLog = koffi.register(() => {}, koffi.pointer(LogCallback));
  lib.func('void llama_log_set(petrel_q_log_cb *cb, void *user_data)')(silentLog, null);
  llama = {
    defaults: lib.func('llama_model_quantize_default_params', QuantizeParams, []) as () => Record<string, unknown>,
    quantize: lib.func('llama_model_quantize', 'uint32_t', ['str', 'str', koffi.pointer(QuantizeParams)]) as Fn,
  };
  return llama;
}

export interface LlamaQuantizeOptions {
  threads?: number;
  /** tensor name -> importance values (ne0 * n_expert), as llama-quantize passes them. */
  imatrix?: Map<string, Float32Array>;
}

/** llama_model_quantize(input, output, ftype) with requantization allowed. */
export function llamaQuantizeFile(input: string, output: string, ftype: number, options: LlamaQuantizeOptions = {}): void {
  const api = llamaApi();
  const params: Record<string, unknown> = { ...api.defaults(), ftype, nthread: options.threads ?? 2, allow_requantize: true };
  if (options.imatrix) {
    const entries = [...options.imatrix].map(([name, data]) => ({ name, data, size: data.length }));
    entries.push({ name: null as unknown as string, data: null as unknown as Float32Array, size: 0 });
    // koffi marshals the array (strings and float arrays included) for the duration of the call.
    params.imatrix = koffi.as(entries, koffi.pointer(ImatrixData));
  }
  const rc = api.quantize(input, output, params);
  if (rc !== 0) throw new Error(`llama_model_quantize(${input}, ftype ${ftype}) returned ${rc}`);
}

let chunk: Fn | undefined;

/** ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, imatrix) from libggml-base. */
export function ggmlQuantizeChunk(typeId: number, typeSize: number, blockSize: number, src: Float32Array, nPerRow: number, imatrix?: Float32Array): Uint8Array {
  if (!chunk) {
    const lib = ggmlBaseLibrary();
    if (!('path' in lib)) throw new Error(lib.skip);
    chunk = koffi.load(lib.path).func(
      'size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)',
    ) as Fn;
  }
  const nrows = src.length / nPerRow;
  const dst = new Uint8Array((src.length / blockSize) * typeSize);
  const written = Number(chunk(typeId, src, dst, 0, nrows, nPerRow, imatrix ?? null));
  if (written !== dst.length) throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${dst.length}`);
  return dst;
}
