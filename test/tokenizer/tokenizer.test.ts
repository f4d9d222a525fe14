// Tokenizer units that need no llama.cpp: pre-tokenizer splits, added-token matching, BPE on the
// tiny vocabulary, streaming decode across split UTF-8 characters, GGUF vocabulary errors, speed.
import { describe, expect, it } from 'vitest';
import { buildSynthModel } from '../../src/synth/index.js';
import { qwenVocab } from '../../src/synth/tokenizer/qwenVocab.js';
import { encode as referenceEncode } from '../support/referenceBpe.js';
import { tinyVocab } from '../../src/synth/tokenizer/tinyVocab.js';
import { Tokenizer, preTokenizerFor, splitPieces, vocabularyFromGguf } from '../../src/tokenizer/index.js';
import { corpusLines, corpusText } from './corpus.js';

const qwen35 = preTokenizerFor('qwen35')!;
const qwen2 = preTokenizerFor('qwen2')!;

function tokenizerFor(preset: 'tiny' | '0.8b', pre?: string): Tokenizer {
  const metadata = buildSynthModel(preset, { layers: 2 }).spec.metadata.map((kv) =>
    kv.key === 'tokenizer.ggml.pre' && pre ? { ...kv, value: pre } : kv,
  );
  return new Tokenizer(vocabularyFromGguf(metadata));
}

describe('pre-tokenizer', () => {
  it('splits digits singly, keeps contractions, groups newlines', () => {
    expect(splitPieces("I'll pay 1234 dollars", qwen35)).toEqual(['I', "'ll", ' pay', ' ', '1', '2', '3', '4', ' dollars']);
    expect(splitPieces('a\n\n  b', qwen35)).toEqual(['a', '\n\n', ' ', ' b']);
    expect(splitPieces("WE'LL x", qwen2)).toEqual(['WE', "'LL", ' x']);
  });

  it('qwen35 keeps combining marks with letters, qwen2 does not', () => {
    expect(splitPieces('Cafe\u0301 ok', qwen35)).toEqual(['Cafe\u0301', ' ok']);
    expect(splitPieces('Cafe\u0301 ok', qwen2)).toEqual(['Cafe', '\u0301', ' ok']);
    expect(splitPieces('สวัสดี', qwen35)).toEqual(['สวัสดี']);
    expect(splitPieces('สวัสดี', qwen2).length).toBeGreaterThan(1);
  });

  it('whitespace is Unicode White_Space (U+0085 yes, U+FEFF no), as in llama.cpp and HF', () => {
    expect(splitPieces('a\u0085\u0085b', qwen35)).toEqual(['a', '\u0085', '\u0085b']);
    expect(splitPieces('a\ufeffb', qwen35)).toEqual(['a', '\ufeffb']);
    expect(splitPieces('x\u3000\u3000y', qwen35)).toEqual(['x', '\u3000', '\u3000y']);
  });

  it('the two patterns disagree on a good share of the corpus (the conformance test tells them apart)', () => {
    const lines = corpusLines(2400);
    const differ = lines.filter((l) => splitPieces(l, qwen35).join('\u0000') !== splitPieces(l, qwen2).join('\u0000'));
    expect(differ.length).toBeGreaterThan(200);
  });
});

describe('Tokenizer', () => {
  it('reads the vocabulary from GGUF metadata', () => {
    const tok = tokenizerFor('tiny');
    expect(tok.size).toBe(512);
    expect(tok.pre.name).toBe('qwen35');
    expect(tok.tokenId('<|im_end|>')).toBe(tok.vocabulary.eosId);
    expect([...tok.eogIds].sort()).toEqual([tok.tokenId('<|endoftext|>'), tok.tokenId('<|im_end|>')].sort());
  });

  it('encodes like the synth reference encoder (tiny and Qwen3 vocabularies)', () => {
    const lines = corpusLines(300, 99);
    for (const [tok, vocab] of [
      [tokenizerFor('tiny'), tinyVocab()],
      [tokenizerFor('0.8b'), qwenVocab()],
    ] as const) {
      for (const line of lines) {
        expect(tok.encode(line, { parseSpecial: true }), line).toEqual(referenceEncode(vocab, line, { parseSpecial: true }));
      }
    }
  });

  it('matches added tokens before BPE: control ones only with parseSpecial, user-defined always', () => {
    const tok = tokenizerFor('0.8b');
    expect(tok.encode('<|im_start|><|im_end|><|endoftext|><think></think>', { parseSpecial: true })).toEqual([
      248045, 248046, 248044, 248068, 248069,
    ]);
    expect(tok.encode('<think>')).toEqual([248068]);
    expect(tok.encode('<|im_start|>')).not.toContain(248045);
    expect(tok.encode('\n')).toEqual([198]);
    // Longest match wins where added tokens overlap.
    expect(tok.encode('<<think>>', { parseSpecial: true })).toContain(248068);
  });

  it('NFC-normalizes by default (as the HF tokenizer), not with normalize: false (as llama.cpp)', () => {
    const tok = tokenizerFor('0.8b');
    expect(tok.encode('Cafe\u0301')).toEqual(tok.encode('Café'));
    expect(tok.encode('Cafe\u0301', { normalize: false })).not.toEqual(tok.encode('Café'));
  });

  it('decodes control tokens only on request; user-defined tokens always', () => {
    const tok = tokenizerFor('0.8b');
    const ids = tok.encode('<|im_start|>hi<think>x</think><|im_end|>', { parseSpecial: true });
    expect(tok.decode(ids)).toBe('hi<think>x</think>');
    expect(tok.decode(ids, { special: true })).toBe('<|im_start|>hi<think>x</think><|im_end|>');
  });

  it('streaming decode never emits half a UTF-8 character', () => {
    const tok = tokenizerFor('tiny');
    const text = 'a🚀b 海燕 👨‍👩‍👧 é';
    const ids = tok.encode(text);
    // The tiny vocabulary has few merges, so multi-byte characters span several tokens.
    expect(ids.length).toBeGreaterThan([...text].length);
    const dec = tok.streamDecoder();
    const chunks = ids.map((id) => dec.push(id));
    chunks.push(dec.flush());
    expect(chunks.join('')).toBe(text);
    for (const c of chunks) expect(c).not.toMatch(/\ufffd/);
    expect(chunks.filter((c) => c === '').length).toBeGreaterThan(0);
    // A character cut off at the end becomes U+FFFD on flush instead of vanishing.
    const rocket = tok.encode('🚀');
    const cut = tok.streamDecoder();
    expect(rocket.slice(0, -1).map((id) => cut.push(id)).join('') + cut.flush()).toBe('\ufffd');
  });

  it('rejects files without a usable tokenizer with a one-line error', () => {
    expect(() => vocabularyFromGguf([{ key: 'tokenizer.ggml.model', type: 'str', value: 'no_vocab' }], 'x.gguf')).toThrow(
      /x.gguf: the file has no tokenizer/,
    );
    expect(() => vocabularyFromGguf([{ key: 'tokenizer.ggml.model', type: 'str', value: 'llama' }])).toThrow(/not supported/);
    expect(() => tokenizerFor('tiny', 'llama3')).toThrow(/tokenizer.ggml.pre "llama3" is not supported/);
  });

  it('tokenizes 1 MB of mixed text in well under a second', () => {
    const tok = tokenizerFor('0.8b');
    const text = corpusText(1 << 20);
    expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(1 << 20);
    const times: number[] = [];
    let n = 0;
    for (let i = 0; i < 3; i++) {
      // A fresh tokenizer each round would include table building; the pre-token cache is part of the design.
      const t0 = performance.now();
      n = tok.encode(text, { parseSpecial: true }).length;
      times.push(performance.now() - t0);
    }
    const cold = times[0]!;
    console.log(`1 MiB (${n} tokens): first ${cold.toFixed(0)} ms, then ${times.slice(1).map((t) => t.toFixed(0)).join(', ')} ms`);
    // The requirement is < 1 s on the dev machine; the margin covers slow CI boxes under load.
    expect(cold).toBeLessThan(3000);
  });
});
