// Programmatic API of `petrel quantize`: a GGUF (F32/F16/BF16/Q8_0/...) in, a quantized GGUF out,
// with llama.cpp's per-tensor type choices (see native/quantize/). The output is written to a
// temporary file and renamed into place; an existing output is only replaced with `force`.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { quantizeAddon, type QuantizeProgress } from './native.js';
import { buildSummary, type QuantizeSummary } from './summary.js';

export type { QuantizeProgress, QuantizedTensor, NativeQuantType } from './native.js';
export type { QuantizeSummary } from './summary.js';
export { formatSummary } from './summary.js';

export interface QuantizeGgufOptions {
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
  return quantizeAddon().quantTypes().map(({ name, description }) => ({ name, description }));
}

export async function quantizeGguf(options: QuantizeGgufOptions): Promise<QuantizeSummary> {
  const { input, output, type } = options;
  const known = quantizeAddon().quantTypes();
  if (!known.some((t) => t.name === type.toLowerCase())) {
    throw new UserError(`unknown quantization type "${type}" (one of: ${known.map((t) => t.name).join(', ')})`, 'ERR_USER_BAD_TYPE');
  }
  if (!existsSync(input) || !statSync(input).isFile()) throw new UserError(`${input}: no such file`, 'ERR_USER_NO_FILE');
  if (options.imatrix !== undefined && (!existsSync(options.imatrix) || !statSync(options.imatrix).isFile())) {
    throw new UserError(`${options.imatrix}: no such file`, 'ERR_USER_NO_FILE');
  }
  if (!options.dryRun) {
    if (existsSync(output) && !options.force) throw new UserError(`${output} exists; pass --force to overwrite it`, 'ERR_USER_EXISTS');
    const dir = path.dirname(path.resolve(output));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such directory`, 'ERR_USER_NO_FILE');
  }
  const started = performance.now();
  const native = await quantizeAddon().quantizeGguf(
    input,
    output,
    {
      type: type.toLowerCase(),
      threads: options.threads,
      imatrix: options.imatrix,
      force: options.force,
      dryRun: options.dryRun,
    },
    options.onProgress,
  );
  return buildSummary(native, input, output, type.toLowerCase(), (performance.now() - started) / 1000);
}
