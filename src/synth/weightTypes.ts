// The weight types `petrel synth` writes, as ggml type ids and the general.file_type
// (llama_ftype) that llama.cpp's converter records for them; their sizes are src/gguf/ggmlTypes.ts's.
import { GgmlType, ggmlTensorBytes } from '../gguf/ggmlTypes.js';

export type WeightType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const WEIGHT_TYPES: readonly WeightType[] = ['f32', 'f16', 'bf16', 'q8_0'];

interface WeightTypeInfo {
  ggmlType: number;
  /** llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32 */
  fileType: number;
}

export const WEIGHT_TYPE_INFO: Record<WeightType, WeightTypeInfo> = {
  f32: { ggmlType: GgmlType.F32, fileType: 0 },
  f16: { ggmlType: GgmlType.F16, fileType: 1 },
  bf16: { ggmlType: GgmlType.BF16, fileType: 32 },
  q8_0: { ggmlType: GgmlType.Q8_0, fileType: 7 },
};

export function isWeightType(s: string): s is WeightType {
  return (WEIGHT_TYPES as readonly string[]).includes(s);
}

/** Bytes of a tensor of `nElements` (a multiple of the block size) in ggml type `ggmlType`. */
export function tensorBytes(ggmlType: number, nElements: number): number {
  const bytes = ggmlTensorBytes(ggmlType, nElements);
  if (bytes === undefined) throw new Error(`no size known for ggml type ${ggmlType}`);
  return bytes;
}
