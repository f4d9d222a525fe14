// What `petrel quantize` reports when it is done: sizes, bits per weight, tensors per type, time.
import { formatBytes } from '../format/numbers.js';
import type { NativeQuantizeSummary } from '../native/index.js';

export interface QuantizeSummary extends NativeQuantizeSummary {
  input: string;
  output: string;
  type: string;
  /** Wall time in seconds. */
  seconds: number;
  /** Bits per weight of the output's tensor data (as llama-quantize prints it). */
  bitsPerWeight: number;
  /** Output tensors per ggml type name, e.g. { q4_K: 120, q6_K: 20, f32: 60 }. */
  typeCounts: Record<string, number>;
}

export function buildSummary(
  native: NativeQuantizeSummary,
  input: string,
  output: string,
  type: string,
  seconds: number,
): QuantizeSummary {
  const typeCounts: Record<string, number> = {};
  for (const t of native.tensors) typeCounts[t.toName] = (typeCounts[t.toName] ?? 0) + 1;
  const bitsPerWeight = native.nElements > 0 ? (native.tensorBytesOut * 8) / native.nElements : 0;
  return { ...native, input, output, type, seconds, bitsPerWeight, typeCounts };
}

/** A few lines for the terminal. */
export function formatSummary(s: QuantizeSummary): string {
  const inBpw = s.nElements > 0 ? (s.tensorBytesIn * 8) / s.nElements : 0;
  const counts = Object.entries(s.typeCounts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const fallbacks = s.tensors.filter((t) => t.fallback).length;
  const lines = [
    `wrote ${s.output} (${s.type.toUpperCase()})`,
    `  size    ${formatBytes(s.inputFileBytes)} (${inBpw.toFixed(2)} bpw) -> ${formatBytes(s.outputFileBytes)} (${s.bitsPerWeight.toFixed(2)} bpw)`,
    `  tensors ${s.tensors.length}: ${counts}` + (fallbacks ? ` (${fallbacks} with a fallback type)` : ''),
    `  time    ${s.seconds.toFixed(1)} s on ${s.threads} thread${s.threads === 1 ? '' : 's'}` +
      (s.imatrixEntries ? `, imatrix with ${s.imatrixEntries} entries (${s.tensors.filter((t) => t.withImatrix).length} tensors used it)` : ''),
  ];
  return lines.join('\n') + '\n';
}
