// Tensor types through the native addon (native/addon/formats_wrap.cpp): the ggml type table and
// petrel's reference dequantizers and quantizers.

export interface NativeTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
  /** petrel can convert this type to float32 */
  canDequantize: boolean;
  /** petrel has a reference quantizer for this type */
  canQuantize: boolean;
}

export interface NativeFormatsApi {
  typeTable(): NativeTypeInfo[];
  /** Converts `n` elements of `type` from `data` to float32. */
  dequantize(type: number, data: Uint8Array, n: number): Float32Array;
  /** Quantizes float32 values to `type` with petrel's reference quantizer. */
  quantize(type: number, data: Float32Array): Uint8Array;
}
