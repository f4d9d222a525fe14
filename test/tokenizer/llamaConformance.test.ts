// Token ids identical to llama.cpp's tokenizer (node-llama-cpp model.tokenize) on the generated
// corpus, for the tiny synthetic vocabulary (qwen35 pattern) and the real Qwen3 vocabulary with
// both the qwen35 and the qwen2 pattern; decoding round-trips. llama.cpp does not NFC-normalize,
// so its ids are compared with { normalize: false }, and with petrel's default on NFC input.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LlamaModel, Token } from 'node-llama-cpp';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { corpusLines } from './corpus.js';
import { llamaVocab, writeVocabFile } from './vocabFiles.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-tok-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const LINES = corpusLines(2400);

interface Mismatch {
  line: string;
  mode: string;
  petrel: number[];
  llama: number[];
}

function compare(tok: Tokenizer, llama: LlamaModel): { checked: number; mismatches: Mismatch[] } {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  const check = (line: string, mode: string, petrel: number[], ref: number[]) => {
    checked++;
    if (petrel.length !== ref.length || petrel.some((t, i) => t !== ref[i])) mismatches.push({ line, mode, petrel, llama: ref });
  };
  for (const line of LINES) {
    const special = tok.encode(line, { parseSpecial: true, normalize: false });
    check(line, 'special', special, llama.tokenize(line, true));
    check(line, 'plain', tok.encode(line, { normalize: false }), llama.tokenize(line, false));
    const nfc = line.normalize('NFC');
    if (nfc !== line) check(line, 'nfc', tok.encode(line, { parseSpecial: true }), llama.tokenize(nfc, true));
    // Round trips, through both detokenizers.
    if (tok.decode(special, { special: true }) !== line) mismatches.push({ line, mode: 'decode', petrel: special, llama: [] });
    if (llama.detokenize(special as Token[], true) !== line) mismatches.push({ line, mode: 'llama-decode', petrel: special, llama: [] });
  }
  return { checked, mismatches };
}

describe('tokenizer matches llama.cpp on the generated corpus', () => {
  it('has at least 2,000 varied lines', () => {
    expect(LINES.length).toBeGreaterThanOrEqual(2000);
    expect(new Set(LINES).size).toBeGreaterThan(1900);
    expect(LINES.some((l) => l.normalize('NFC') !== l)).toBe(true);
    expect(LINES.some((l) => l.includes('\u200d'))).toBe(true);
  });

  for (const [preset, pre] of [
    ['tiny', 'qwen35'],
    ['0.8b', 'qwen35'],
    ['0.8b', 'qwen2'],
  ] as const) {
    const name = preset === 'tiny' ? 'tiny synthetic vocabulary (qwen35)' : `real Qwen3 vocabulary (${pre})`;
    it(name, { timeout: 300_000 }, async () => {
      const file = await writeVocabFile(tmp, preset, pre);
      const tok = Tokenizer.fromGgufFile(file);
      expect(tok.pre.name).toBe(pre);
      const llama = await llamaVocab(file);
      try {
        const { checked, mismatches } = compare(tok, llama);
        console.log(`${name}: ${LINES.length} lines, ${checked} encodings compared, ${mismatches.length} mismatches`);
        expect(mismatches.slice(0, 5)).toEqual([]);
      } finally {
        await llama.dispose();
      }
    });
  }
});
