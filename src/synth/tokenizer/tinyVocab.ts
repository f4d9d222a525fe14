// The tiny presets' vocabulary: 256 byte tokens, merges learned from TINY_CORPUS, the 33 Qwen3.5
// added tokens with their real strings and types, then [PAD<id>] up to TINY_VOCAB_SIZE so the size
// does not depend on how many merges the corpus yields.
import { TINY_CORPUS } from './corpus.js';
import { trainBpe } from './trainBpe.js';
import { QWEN35_SPECIAL_TOKENS, TokenType, padToken, specialTokenType } from './specialTokens.js';
import { tokenId, type SynthVocab } from './vocab.js';

export const TINY_VOCAB_SIZE = 512;
const TINY_MERGES = TINY_VOCAB_SIZE - 256 - QWEN35_SPECIAL_TOKENS.length;

let cached: SynthVocab | undefined;

export function tinyVocab(): SynthVocab {
  if (cached) return cached;
  // Added tokens are matched before BPE runs, so their text must not shape the merges.
  let text = TINY_CORPUS;
  for (const special of QWEN35_SPECIAL_TOKENS) text = text.split(special).join('\n');
  const bpe = trainBpe(text, TINY_MERGES);

  const tokens = [...bpe.tokens];
  const tokenTypes: number[] = tokens.map(() => TokenType.NORMAL);
  for (const special of QWEN35_SPECIAL_TOKENS) {
    tokens.push(special);
    tokenTypes.push(specialTokenType(special));
  }
  while (tokens.length < TINY_VOCAB_SIZE) {
    tokens.push(padToken(tokens.length));
    tokenTypes.push(TokenType.UNUSED);
  }
  const vocab: SynthVocab = { pre: 'qwen35', tokens, tokenTypes, merges: bpe.merges, eosId: 0, padId: 0 };
  vocab.eosId = tokenId(vocab, '<|im_end|>');
  vocab.padId = tokenId(vocab, '<|endoftext|>');
  cached = vocab;
  return vocab;
}
