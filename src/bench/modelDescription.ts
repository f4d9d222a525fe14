// What llama-bench prints about a model: "<arch> <size> <file type>" (llama_model_desc), its size
// in bytes (all tensor data) and its parameter count, read from the GGUF header so the model column
// means the same thing here as in a llama-bench table.
import type { GgufKv, GgufTensorInfo } from '../native/index.js';
import { loadNative } from '../native/index.js';
import { summarizeModel } from '../gguf/modelSummary.js';

export interface ModelDescription {
  /** model_filename: the path as given. */
  filename: string;
  /** model_type, e.g. "qwen35 0.8B Q4_K - Medium". */
  type: string;
  /** model_size: bytes of tensor data. */
  sizeBytes: number;
  /** model_n_params */
  nParams: number;
  /** Vocabulary size (random token ids are drawn below it). */
  nVocab: number;
}

export function describeModelFile(file: string): ModelDescription {
  const gguf = loadNative().openGguf(file);
  try {
    return describeModel(file, gguf.metadata(), gguf.tensors());
  } finally {
    gguf.close();
  }
}

export function describeModel(filename: string, kvs: GgufKv[], tensors: GgufTensorInfo[]): ModelDescription {
  const summary = summarizeModel(kvs, tensors);
  const fileType = kvs.find((kv) => kv.key === 'general.file_type')?.value;
  const ftype = typeof fileType === 'number' ? fileTypeName(fileType) : guessedFileType(tensors);
  const size = llamaSizeName(summary.architecture, summary.layers.nLayer, summary.embeddingLength ?? 0);
  return {
    filename,
    type: `${summary.architecture} ${size} ${ftype}`,
    sizeBytes: summary.tensorBytes,
    nParams: summary.parameters,
    // The token list's length; a file without one still has the embedding's rows.
    nVocab: summary.tokenizer?.vocabSize || (tensors.find((t) => t.name === 'token_embd.weight')?.shape[1] ?? 0),
  };
}

/**
 * llama.cpp names a model's size from its shape, not from general.size_label (src/models/qwen35*.cpp:
 * the trunk's layer count, and n_embd to tell 0.8B from 2B and 4B from 9B); other shapes are "?B".
 */
export function llamaSizeName(arch: string, nLayer: number, nEmbd: number): string {
  if (arch === 'qwen35') {
    if (nLayer === 24) return nEmbd === 1024 ? '0.8B' : '2B';
    if (nLayer === 32) return nEmbd === 2560 ? '4B' : '9B';
    if (nLayer === 64) return '27B';
  }
  if (arch === 'qwen35moe') {
    if (nLayer === 40) return '35B.A3B';
    if (nLayer === 48) return '122B.A10B';
    if (nLayer === 60) return '397B.A17B';
  }
  return '?B';
}

/** llama_model_ftype_name (src/llama-model-loader.cpp) for general.file_type. */
const FTYPE_NAMES: Record<number, string> = {
  0: 'all F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1',
  10: 'Q2_K - Medium', 11: 'Q3_K - Small', 12: 'Q3_K - Medium', 13: 'Q3_K - Large',
  14: 'Q4_K - Small', 15: 'Q4_K - Medium', 16: 'Q5_K - Small', 17: 'Q5_K - Medium', 18: 'Q6_K',
  19: 'IQ2_XXS - 2.0625 bpw', 20: 'IQ2_XS - 2.3125 bpw', 21: 'Q2_K - Small', 22: 'IQ3_XS - 3.3 bpw',
  23: 'IQ3_XXS - 3.0625 bpw', 24: 'IQ1_S - 1.5625 bpw', 25: 'IQ4_NL - 4.5 bpw', 26: 'IQ3_S - 3.4375 bpw',
  27: 'IQ3_S mix - 3.66 bpw', 28: 'IQ2_S - 2.5 bpw', 29: 'IQ2_M - 2.7 bpw', 30: 'IQ4_XS - 4.25 bpw',
  31: 'IQ1_M - 1.75 bpw', 32: 'BF16', 36: 'TQ1_0 - 1.69 bpw ternary', 37: 'TQ2_0 - 2.06 bpw ternary',
  38: 'MXFP4 MoE',
};

export function fileTypeName(ftype: number): string {
  // llama.cpp marks a guessed type with bit 10 (LLAMA_FTYPE_GUESSED).
  if (ftype & 1024) return `${fileTypeName(ftype & ~1024)} (guessed)`;
  return FTYPE_NAMES[ftype] ?? 'unknown, may not work';
}

/** Without general.file_type llama.cpp guesses from the most common tensor type. */
const TYPE_TO_FTYPE: Record<string, number> = {
  f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7, q5_0: 8, q5_1: 9, q2_k: 10, q3_k: 12, q4_k: 15, q5_k: 17, q6_k: 18, bf16: 32,
};

function guessedFileType(tensors: GgufTensorInfo[]): string {
  const counts = new Map<string, number>();
  for (const t of tensors) counts.set(t.typeName.toLowerCase(), (counts.get(t.typeName.toLowerCase()) ?? 0) + 1);
  let best = '';
  let bestCount = -1;
  for (const [type, n] of counts) if (n > bestCount) [best, bestCount] = [type, n];
  const ftype = TYPE_TO_FTYPE[best];
  return ftype === undefined ? 'unknown, may not work' : fileTypeName(ftype | 1024);
}
