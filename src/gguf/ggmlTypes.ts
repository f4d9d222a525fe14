// ggml tensor types as GGUF files store them: id, name, elements per block and bytes per block
// (ggml-common.h). The one table in TypeScript, for code that must not need the native addon (the
// store sizes files it has not downloaded); test/native/ggmlTypes.test.ts checks it against the
// addon's typeTable(), which reads native/quant/ggml_type.cpp.

export interface GgmlTypeSize {
  id: number;
  name: string;
  /** Elements per block: a row length that is not a multiple cannot use the type. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const t = (id: number, name: string, blockSize: number, typeSize: number): GgmlTypeSize => ({ id, name, blockSize, typeSize });

export const GGML_TYPES: readonly GgmlTypeSize[] = [
  t(0, 'f32', 1, 4), t(1, 'f16', 1, 2), t(2, 'q4_0', 32, 18), t(3, 'q4_1', 32, 20), t(6, 'q5_0', 32, 22),
  t(7, 'q5_1', 32, 24), t(8, 'q8_0', 32, 34), t(9, 'q8_1', 32, 36), t(10, 'q2_K', 256, 84), t(11, 'q3_K', 256, 110),
  t(12, 'q4_K', 256, 144), t(13, 'q5_K', 256, 176), t(14, 'q6_K', 256, 210), t(15, 'q8_K', 256, 292),
  t(16, 'iq2_xxs', 256, 66), t(17, 'iq2_xs', 256, 74), t(18, 'iq3_xxs', 256, 98), t(19, 'iq1_s', 256, 50),
  t(20, 'iq4_nl', 32, 18), t(21, 'iq3_s', 256, 110), t(22, 'iq2_s', 256, 82), t(23, 'iq4_xs', 256, 136),
  t(24, 'i8', 1, 1), t(25, 'i16', 1, 2), t(26, 'i32', 1, 4), t(27, 'i64', 1, 8), t(28, 'f64', 1, 8),
  t(29, 'iq1_m', 256, 56), t(30, 'bf16', 1, 2), t(34, 'tq1_0', 256, 54), t(35, 'tq2_0', 256, 66), t(39, 'mxfp4', 32, 17),
];

/** The ids TypeScript code writes by name (ggml.h's enum ggml_type). */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;

const BY_ID = new Map(GGML_TYPES.map((type) => [type.id, type]));

export function ggmlTypeSize(id: number): GgmlTypeSize | undefined {
  return BY_ID.get(id);
}

/** Bytes of `nElements` values of type `id` (a last partial block counts whole); undefined for a type not in the table. */
export function ggmlTensorBytes(id: number, nElements: number): number | undefined {
  const type = BY_ID.get(id);
  return type ? Math.ceil(nElements / type.blockSize) * type.typeSize : undefined;
}
