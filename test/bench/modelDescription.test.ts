// The model column means what llama-bench's does: "<arch> <llama.cpp size name> <file type>".
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeModel, describeModelFile, fileTypeName, llamaSizeName } from '../../src/bench/modelDescription.js';
import type { GgufKv, GgufTensorInfo } from '../../src/native/index.js';
import { synthesize } from '../../src/synth/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-desc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench model description', () => {
  it('names sizes as llama.cpp does for Qwen3.5 shapes', () => {
    expect(llamaSizeName('qwen35', 24, 1024)).toBe('0.8B');
    expect(llamaSizeName('qwen35', 24, 2048)).toBe('2B');
    expect(llamaSizeName('qwen35', 32, 2560)).toBe('4B');
    expect(llamaSizeName('qwen35', 32, 4096)).toBe('9B');
    expect(llamaSizeName('qwen35', 64, 5120)).toBe('27B');
    expect(llamaSizeName('qwen35moe', 40, 2048)).toBe('35B.A3B');
    expect(llamaSizeName('qwen35moe', 4, 2048)).toBe('?B');
    expect(llamaSizeName('qwen35', 8, 256)).toBe('?B');
  });

  it('names file types as llama_model_ftype_name', () => {
    expect(fileTypeName(15)).toBe('Q4_K - Medium');
    expect(fileTypeName(7)).toBe('Q8_0');
    expect(fileTypeName(0)).toBe('all F32');
    expect(fileTypeName(15 | 1024)).toBe('Q4_K - Medium (guessed)');
    expect(fileTypeName(999)).toBe('unknown, may not work');
  });

  it('guesses the file type from the tensors when general.file_type is missing', () => {
    const kvs: GgufKv[] = [{ key: 'general.architecture', type: 'str', value: 'qwen35' }];
    const t = (name: string, typeName: string): GgufTensorInfo => ({ name, type: 0, typeName, shape: [4, 2], nElements: 8, size: 10, split: 0, fileOffset: 0 });
    const d = describeModel('x.gguf', kvs, [t('token_embd.weight', 'Q8_0'), t('a', 'Q8_0'), t('b', 'F32')]);
    expect(d).toMatchObject({ type: 'qwen35 ?B Q8_0 (guessed)', sizeBytes: 30, nParams: 24, nVocab: 2 });
  });

  it('describes a synthetic model file: size, parameters, vocabulary', async () => {
    const file = path.join(dir, 'tiny.gguf');
    const r = await synthesize('tiny', file, { type: 'q8_0' });
    const d = describeModelFile(file);
    expect(d.type).toBe('qwen35 ?B Q8_0');
    expect(d.nParams).toBe(r.params);
    expect(d.nVocab).toBe(512);
    expect(d.sizeBytes).toBeGreaterThan(0);
    expect(d.sizeBytes).toBeLessThan(r.bytes);
  });
});
