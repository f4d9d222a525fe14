// The quantizer's part of the native addon (native/addon/quantize_wrap.cpp): the GGUF -> GGUF
// pipeline, its types, and the checkpoint plan it reads in place of a GGUF. src/convert/ builds
// that plan; its shape is defined here, where the addon reads it.

/** The safetensors dtypes the native checkpoint source reads; others are refused. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** What the source does to the values after reading them (native/quantize/safetensors_source.h). */
export type ConvertOp = 'none' | 'add_one' | 'neg_exp';

/** Rows of one .safetensors tensor, in file order. */
export interface ConvertPart {
  /** Index into NativeConvertPlan.files. */
  file: number;
  offset: number;
  rows: number;
  dtype: SafetensorsDtype;
}

/** One output tensor, assembled from parts of checkpoint tensors. */
export interface ConvertTensorPlan {
  name: string;
  /** ggml order (ne0 = row length). */
  shape: number[];
  /** ggml type id the converter stores it as. */
  type: number;
  op: ConvertOp;
  parts: ConvertPart[];
  colBlock?: number;
  colPerm?: number[];
}

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

export interface NativeQuantizeApi {
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
