// Programmatic API of `petrel quantize`: a GGUF (F32/F16/BF16/Q8_0/...) or a Hugging Face checkpoint
// folder in, a quantized (or f32/f16/bf16) GGUF out, with llama.cpp's per-tensor type choices (see
// native/quantize/). A checkpoint is first planned by src/convert/ (what convert_hf_to_gguf.py would
// write) and then streamed through the same pipeline. The output is written to a temporary file and
// renamed into place; an existing output is only replaced with `force`.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isCheckpointDir, planConversion } from '../convert/index.js';
import { UserError } from '../errors.js';
import { loadNative, type NativeConvertPlan, type QuantizeProgress } from '../native/index.js';
import { buildSummary, type QuantizeSummary } from './summary.js';

export type { QuantizeProgress, QuantizedTensor, NativeQuantType } from '../native/index.js';
export type { QuantizeSummary } from './summary.js';
export { formatSummary } from './summary.js';

export interface QuantizeGgufOptions {
  /** A GGUF file, or a Hugging Face model folder (config.json, *.safetensors, tokenizer.json). */
  input: string;
  output: string;
  /** 'q4_k_m', 'q8_0', … (quantTypes()). */
  type: string;
  /** Worker threads; all cores when absent. */
  threads?: number;
  /** Replace an existing output file. */
  force?: boolean;
  /** llama.cpp importance matrix (GGUF or legacy .dat). */
  imatrix?: string;
  /** Choose the types and sizes, write nothing. */
  dryRun?: boolean;
  onProgress?: (p: QuantizeProgress) => void;
}

/** The quantization types, as the CLI lists them. */
export function quantTypes(): { name: string; description: string }[] {
  return loadNative().quantTypes().map(({ name, description }) => ({ name, description }));
}

export async function quantizeGguf(options: QuantizeGgufOptions): Promise<QuantizeSummary> {
  const { input, output, type } = options;
  const known = loadNative().quantTypes();
  if (!known.some((t) => t.name === type.toLowerCase())) {
    throw new UserError(`unknown quantization type "${type}" (one of: ${known.map((t) => t.name).join(', ')})`, 'ERR_USER_BAD_TYPE');
  }
  const checkpoint = isCheckpointDir(input);
  if (!checkpoint && (!existsSync(input) || !statSync(input).isFile())) {
    const why = existsSync(input) ? 'a folder without config.json (not a Hugging Face checkpoint)' : 'no such file';
    throw new UserError(`${input}: ${why}`, 'ERR_USER_NO_FILE');
  }
  if (options.imatrix !== undefined && (!existsSync(options.imatrix) || !statSync(options.imatrix).isFile())) {
    throw new UserError(`${options.imatrix}: no such file`, 'ERR_USER_NO_FILE');
  }
  if (!options.dryRun) {
    if (existsSync(output) && !options.force) throw new UserError(`${output} exists; pass --force to overwrite it`, 'ERR_USER_EXISTS');
    const dir = path.dirname(path.resolve(output));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such directory`, 'ERR_USER_NO_FILE');
  }
  const started = performance.now();
  let tmpDir: string | undefined;
  try {
    let convert: NativeConvertPlan | undefined;
    if (checkpoint) {
      const plan = planConversion(input, type);
      // The metadata travels as a GGUF with no tensors, written by the same writer as every GGUF.
      tmpDir = mkdtempSync(path.join(os.tmpdir(), 'petrel-convert-'));
      const metadata = path.join(tmpDir, 'metadata.gguf');
      await loadNative().writeGguf(metadata, { metadata: plan.metadata, tensors: [] });
      convert = { metadata, files: plan.files, tensors: plan.tensors };
    }
    const native = await loadNative().quantizeGguf(
      input,
      output,
      {
        type: type.toLowerCase(),
        threads: options.threads,
        imatrix: options.imatrix,
        force: options.force,
        dryRun: options.dryRun,
        convert,
      },
      options.onProgress,
    );
    return buildSummary(native, input, output, type.toLowerCase(), (performance.now() - started) / 1000);
  } finally {
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  }
}
