import { describe, expect, it } from 'vitest';
import type { GgufKv, GgufTensorInfo } from '../../src/native/index.js';
import { compactPattern, summarizeModel } from '../../src/gguf/modelSummary.js';

const kv = (key: string, type: GgufKv['type'], value: GgufKv['value'], itemType?: GgufKv['type']): GgufKv =>
  itemType ? { key, type, itemType, value } : { key, type, value };

const tensor = (name: string, shape: number[], typeName = 'f32', bytesPerElement = 4): GgufTensorInfo => {
  const nElements = shape.reduce((a, b) => a * b, 1);
  return { name, type: 0, typeName, shape, nElements, size: nElements * bytesPerElement, split: 0, fileOffset: 0 };
};

describe('summarizeModel', () => {
  it('derives the 3:1 hybrid pattern from full_attention_interval and skips the MTP block', () => {
    const s = summarizeModel(
      [
        kv('general.architecture', 'str', 'qwen35'),
        kv('qwen35.block_count', 'u32', 9),
        kv('qwen35.nextn_predict_layers', 'u32', 1),
        kv('qwen35.full_attention_interval', 'u32', 4),
        kv('qwen35.embedding_length', 'u32', 64),
        kv('qwen35.attention.head_count', 'u32', 4),
        kv('qwen35.attention.head_count_kv', 'u32', 2),
        kv('qwen35.attention.key_length', 'u32', 16),
      ],
      [tensor('token_embd.weight', [64, 100]), tensor('blk.0.attn_norm.weight', [64])],
    );
    expect(s.layers.nLayer).toBe(8);
    expect(s.layers.nNextn).toBe(1);
    expect(s.layers.kinds).toBe('DDDADDDA');
    expect(s.layers.deltaNetLayers).toBe(6);
    expect(s.layers.attentionLayers).toBe(2);
    expect(s.tiedOutput).toBe(true);
    expect(s.parameters).toBe(6464);
    expect(s.heads).toEqual({ q: 4, kv: 2, headDim: 16 });
    expect(compactPattern(s.layers.kinds)).toBe('(DDDA)×2');
  });

  it('prefers attention.recurrent_layers over the interval', () => {
    const s = summarizeModel(
      [
        kv('general.architecture', 'str', 'qwen3next'),
        kv('qwen3next.block_count', 'u32', 4),
        kv('qwen3next.full_attention_interval', 'u32', 4),
        kv('qwen3next.attention.recurrent_layers', 'arr', [true, false, true, false], 'bool'),
      ],
      [],
    );
    expect(s.layers.kinds).toBe('DADA');
    expect(s.layers.source).toBe('attention.recurrent_layers');
  });

  it('uses interval 4 when a hybrid file lacks the key, and attention-only for qwen3', () => {
    const hybrid = summarizeModel(
      [kv('general.architecture', 'str', 'qwen3next'), kv('qwen3next.block_count', 'u32', 8)],
      [],
    );
    expect(hybrid.layers.kinds).toBe('DDDADDDA');
    expect(hybrid.layers.source).toBe('default interval 4');
    const dense = summarizeModel([kv('general.architecture', 'str', 'qwen3'), kv('qwen3.block_count', 'u32', 3)], []);
    expect(dense.layers.kinds).toBe('AAA');
  });

  it('counts active parameters of MoE models and histograms tensor types', () => {
    const s = summarizeModel(
      [
        kv('general.architecture', 'str', 'qwen35moe'),
        kv('qwen35moe.block_count', 'u32', 1),
        kv('qwen35moe.expert_count', 'u32', 8),
        kv('qwen35moe.expert_used_count', 'u32', 2),
        kv('general.file_type', 'u32', 7),
        kv('tokenizer.ggml.model', 'str', 'gpt2'),
        kv('tokenizer.ggml.tokens', 'arr', ['a', 'b', 'c'], 'str'),
        kv('tokenizer.ggml.eos_token_id', 'u32', 2),
        kv('tokenizer.chat_template', 'str', '{{ x }}'),
      ],
      [
        tensor('output.weight', [16, 3]),
        tensor('blk.0.ffn_up_exps.weight', [16, 8, 8], 'q8_0', 1),
        tensor('blk.0.ffn_gate_inp.weight', [16, 8]),
      ],
    );
    expect(s.parameters).toBe(48 + 1024 + 128);
    expect(s.activeParameters).toBe(48 + 128 + 256);
    expect(s.tiedOutput).toBe(false);
    expect(s.fileType).toBe('Q8_0');
    expect(s.tensorTypes).toEqual({ f32: { tensors: 2, bytes: 704 }, q8_0: { tensors: 1, bytes: 1024 } });
    expect(s.tokenizer).toEqual({ model: 'gpt2', vocabSize: 3, eos: 2 });
    expect(s.chatTemplate).toBe(true);
  });
});
