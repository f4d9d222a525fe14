// Qwen3.5's pre-tokenizer as the synthetic vocabularies use it: NFC, then the qwen35 split
// (the pattern itself lives with the runtime tokenizer in src/tokenizer/preTokenizer.ts).
import { preTokenizerFor, splitPieces } from '../../tokenizer/preTokenizer.js';

const QWEN35 = preTokenizerFor('qwen35')!;

/** Splits NFC-normalized text into the pieces BPE merges never cross. */
export function pretokenize(text: string): string[] {
  return splitPieces(text.normalize('NFC'), QWEN35);
}
