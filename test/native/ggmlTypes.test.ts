// src/gguf/ggmlTypes.ts is TypeScript's copy of the ggml type table (the store sizes remote files
// without the addon); it must say what native/quant/ggml_type.cpp says, type for type.
import { describe, expect, it } from 'vitest';
import { GGML_TYPES, ggmlTensorBytes } from '../../src/gguf/ggmlTypes.js';
import { loadNative } from '../../src/native/index.js';

describe('ggml type table', () => {
  it("is the addon's, id for id", () => {
    const native = loadNative()
      .typeTable()
      .map(({ id, name, blockSize, typeSize }) => ({ id, name, blockSize, typeSize }));
    expect([...GGML_TYPES].sort((a, b) => a.id - b.id)).toEqual(native.sort((a, b) => a.id - b.id));
  });

  it('sizes tensors in whole blocks', () => {
    expect(ggmlTensorBytes(8, 64)).toBe(68);
    expect(ggmlTensorBytes(12, 257)).toBe(288);
    expect(ggmlTensorBytes(31, 1)).toBeUndefined();
  });
});
