// GGUF files through the native addon: the bounds-checked reader (native/addon/gguf_wrap.cpp) and
// the streaming writer (writer_wrap.cpp), with the metadata and tensor shapes both use.

/** GGUF metadata value types, spelled as in the GGUF spec (gguf_type). */
export type GgufValueType =
  | 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'arr' | 'u64' | 'i64' | 'f64';

/** 64-bit integers come back as number when they are safe integers, else as bigint. */
export type GgufScalar = number | bigint | boolean | string;

/** An array value; items of a nested array are themselves GgufArray. */
export interface GgufArray {
  itemType: GgufValueType;
  value: GgufScalar[] | GgufArray[];
}

export interface GgufKv {
  key: string;
  type: GgufValueType;
  /** Set when type is 'arr'. */
  itemType?: GgufValueType;
  value: GgufScalar | GgufScalar[] | GgufArray[];
}

export interface GgufTensorInfo {
  name: string;
  /** ggml type id, as stored in the file (see typeTable()). */
  type: number;
  typeName: string;
  /** ggml ne order: shape[0] is the row length. */
  shape: number[];
  nElements: number;
  /** Bytes of tensor data. */
  size: number;
  /** Which file of a split model holds it (0 for single files). */
  split: number;
  /** Absolute byte offset of the data in that file. */
  fileOffset: number;
}

export interface NativeGguf {
  readonly version: number;
  readonly alignment: number;
  readonly paths: string[];
  metadata(): GgufKv[];
  tensors(): GgufTensorInfo[];
  /** Zero-copy view of a tensor's bytes in the memory map; valid until close(). */
  tensorData(name: string): ArrayBuffer;
  /** The tensor converted to float32 with the reference dequantizer. */
  dequantize(name: string): Float32Array;
  close(): void;
}

/** Where the writer takes a tensor's values from. */
export type TensorSource =
  /** float32 values, converted to the tensor's type by petrel's reference quantizer */
  | { kind: 'f32'; data: Float32Array }
  /** bytes already in the tensor's type */
  | { kind: 'raw'; data: Uint8Array }
  /**
   * Deterministic pseudo-random values generated in C++ (same seed, same values, any machine):
   * value = mean + std * N(0,1); with transform 'neg_exp' the value becomes -exp(value).
   */
  | { kind: 'random'; seed: number; mean: number; std: number; transform?: 'neg_exp' };

export interface GgufWriteTensor {
  name: string;
  shape: number[];
  /** ggml type id */
  type: number;
  source: TensorSource;
}

export interface GgufWriteSpec {
  /** general.alignment; 32 when omitted (written as a key only when not 32). */
  alignment?: number;
  metadata: GgufKv[];
  tensors: GgufWriteTensor[];
}

export interface NativeGgufApi {
  /** Opens a GGUF file; a split model's first part opens the whole model. Throws on bad files. */
  openGguf(path: string): NativeGguf;
  /** Streams a GGUF to `path` (temporary file, then rename). onProgress gets bytes written / total. */
  writeGguf(path: string, spec: GgufWriteSpec, onProgress?: (written: number, total: number) => void): Promise<void>;
  /** Streams the model a synth recipe describes (src/synth/recipe.ts) to `path`, as writeGguf would. */
  writeGgufFromRecipe(path: string, recipePath: string, onProgress?: (written: number, total: number) => void): Promise<void>;
}
