// A small, deterministic byte-level BPE trainer (the classic Sennrich/GPT-2 loop): split the text
// with the Qwen3.5 pre-tokenizer, map bytes to GPT-2 characters, then repeatedly merge the most
// frequent adjacent pair. Ties go to the pair whose text sorts first, so the result never depends
// on Map iteration order or the machine.
import { byteChar, bytesToUnicode } from '../../tokenizer/byteUnicode.js';
import { pretokenize } from './pretokenize.js';

export interface BpeModel {
  /** 256 byte tokens in GPT-2 order (code point of their character), then each new merged token. */
  tokens: string[];
  /** Merges in rank order, as GGUF stores them: "left right". */
  merges: string[];
}

interface Word {
  symbols: string[];
  count: number;
}

/** The 256 single-byte tokens, ordered like GPT-2's vocabulary ("!" first). */
export function byteTokens(): string[] {
  const chars = Array.from({ length: 256 }, (_, b) => byteChar(b));
  return chars.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
}

/**
 * Learns up to `nMerges` merges from `text`. Stops early when no pair occurs at least twice,
 * so a short text gives fewer merges.
 */
export function trainBpe(text: string, nMerges: number): BpeModel {
  const counts = new Map<string, number>();
  for (const piece of pretokenize(text)) {
    const word = bytesToUnicode(piece);
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const words: Word[] = [...counts].map(([w, count]) => ({ symbols: [...w], count }));

  const tokens = byteTokens();
  const known = new Set(tokens);
  const merges: string[] = [];
  for (let m = 0; m < nMerges; m++) {
    const best = mostFrequentPair(words);
    if (!best) break;
    const [left, right] = best;
    merges.push(`${left} ${right}`);
    // Two merges can spell the same token ("a bc" and "ab c"); the vocabulary holds it once.
    if (!known.has(left + right)) {
      known.add(left + right);
      tokens.push(left + right);
    }
    for (const word of words) applyMerge(word.symbols, left, right);
  }
  return { tokens, merges };
}

function mostFrequentPair(words: Word[]): [string, string] | undefined {
  const pairCounts = new Map<string, number>();
  for (const { symbols, count } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      // '\u0000' never occurs in byte-level text, so it separates the two halves unambiguously.
      const key = symbols[i] + '\u0000' + symbols[i + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
    }
  }
  let bestKey: string | undefined;
  let bestCount = 1;
  for (const [key, count] of pairCounts) {
    if (count > bestCount || (count === bestCount && bestKey !== undefined && key < bestKey)) {
      bestKey = key;
      bestCount = count;
    }
  }
  if (bestKey === undefined) return undefined;
  const [left, right] = bestKey.split('\u0000') as [string, string];
  return [left, right];
}

function applyMerge(symbols: string[], left: string, right: string): void {
  for (let i = 0; i + 1 < symbols.length; i++) {
    if (symbols[i] === left && symbols[i + 1] === right) {
      symbols.splice(i, 2, left + right);
    }
  }
}
