// The weight types `petrel synth` writes, as ggml type ids and the general.file_type
// (llama_ftype) that llama.cpp's converter records for them.
export type WeightType = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const WEIGHT_TYPES: readonly WeightType[] = ['f32', 'f16', 'bf16', 'q8_0'];

/** ggml_type ids (ggml.h). */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;

interface WeightTypeInfo {
  ggmlType: number;
  /** llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32 */
  fileType: number;
  /** Elements per block: a row length that is not a multiple cannot use the type. */
  blockSize: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const WEIGHT_TYPE_INFO: Record<WeightType, WeightTypeInfo> = {
  f32: { ggmlType: GgmlType.F32, fileType: 0, blockSize: 1, blockBytes: 4 },
  f16: { ggmlType: GgmlType.F16, fileType: 1, blockSize: 1, blockBytes: 2 },
  bf16: { ggmlType: GgmlType.BF16, fileType: 32, blockSize: 1, blockBytes: 2 },
  q8_0: { ggmlType: GgmlType.Q8_0, fileType: 7, blockSize: 32, blockBytes: 34 },
};

const BY_GGML_TYPE = new Map(Object.values(WEIGHT_TYPE_INFO).map((info) => [info.ggmlType, info]));

export function isWeightType(s: string): s is WeightType {
  return (WEIGHT_TYPES as readonly string[]).includes(s);
}

/** Bytes of a tensor of `nElements` (a multiple of the block size) in ggml type `ggmlType`. */
export function tensorBytes(ggmlType: number, nElements: number): number {
  const info = BY_GGML_TYPE.get(ggmlType);
  if (!info) throw new Error(`no size known for ggml type ${ggmlType}`);
  return (nElements / info.blockSize) * info.blockBytes;
}
