// Tokenizer API: GGUF byte-level BPE vocabularies, encode/decode and streaming decode.
export { Tokenizer } from './Tokenizer.js';
export type { EncodeOptions, DecodeOptions } from './Tokenizer.js';
export { StreamDecoder } from './StreamDecoder.js';
export { vocabularyFromGguf, TokenType } from './vocabulary.js';
export type { Vocabulary } from './vocabulary.js';
export { preTokenizerFor, splitPieces, supportedPreTokenizers } from './preTokenizer.js';
export type { PreTokenizer } from './preTokenizer.js';
