// The quantizer's part of the native surface (native/addon/quantize_wrap.cpp), typed here so the
// engine's native.ts stays the engine's; loaded through the same addon loader.
import { loadNative } from '../engine/native.js';
import type { ConvertTensorPlan } from '../convert/index.js';

/** A Hugging Face checkpoint planned by src/convert/ (native/quantize/safetensors_source.h). */
export interface NativeConvertPlan {
  /** A GGUF file with the output's metadata and no tensors. */
  metadata: string;
  /** The .safetensors files the parts point into. */
  files: string[];
  tensors: ConvertTensorPlan[];
}

export interface NativeQuantizeOptions {
  type: string;
  threads?: number;
  imatrix?: string;
  force?: boolean;
  /** Plan only: choose types and sizes, write nothing. */
  dryRun?: boolean;
  /** Tests of the disk-space check: the output filesystem's free bytes (instead of statvfs). */
  assumeFreeBytes?: number;
  /** Read this checkpoint instead of the input GGUF (the input argument is then ignored). */
  convert?: NativeConvertPlan;
}

export interface QuantizeProgress {
  /** Input tensor bytes processed so far, of totalBytes. */
  doneBytes: number;
  totalBytes: number;
  /** Tensors finished, of nTensors. */
  tensorIndex: number;
  nTensors: number;
}

export interface QuantizedTensor {
  name: string;
  shape: number[];
  /** ggml type ids before and after. */
  from: number;
  to: number;
  fromName: string;
  toName: string;
  /** The planned type did not fit the row length (llama.cpp's fallback rule). */
  fallback: boolean;
  withImatrix: boolean;
  nElements: number;
  bytesIn: number;
  bytesOut: number;
}

export interface NativeQuantizeSummary {
  /** general.file_type written (llama_ftype). */
  ftype: number;
  inputFileBytes: number;
  outputFileBytes: number;
  nElements: number;
  tensorBytesIn: number;
  tensorBytesOut: number;
  imatrixEntries: number;
  threads: number;
  /** In output order (llama.cpp's: global tensors, then by block). */
  tensors: QuantizedTensor[];
}

export interface NativeQuantType {
  name: string;
  ftype: number;
  defaultType: number;
  description: string;
}

interface QuantizeAddon {
  quantizeGguf(
    input: string,
    output: string,
    options: NativeQuantizeOptions,
    onProgress?: (p: QuantizeProgress) => void,
  ): Promise<NativeQuantizeSummary>;
  quantTypes(): NativeQuantType[];
  /** The bytes ggml_quantize_chunk gives for whole rows (with an optional imatrix of nPerRow values). */
  quantizeRows(typeId: number, src: Float32Array, nPerRow: number, imatrix?: Float32Array): Uint8Array;
}

export function quantizeAddon(): QuantizeAddon {
  return loadNative() as unknown as QuantizeAddon;
}
