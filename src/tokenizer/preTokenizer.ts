// Pre-tokenizers: the regex that splits text into the pieces BPE merges never cross, chosen by
// tokenizer.ggml.pre. The patterns are the ones llama.cpp uses (the (?i:...) group spelled out),
// with one adjustment so JavaScript agrees with llama.cpp and HF tokenizers: their \s is Unicode
// White_Space (includes U+0085, excludes U+FEFF), while JavaScript's \s is the reverse on those two.

/** Unicode White_Space, as llama.cpp's unicode tables and Oniguruma's \s define it. */
const WS = '\\t\\n\\v\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';

/** Builds the Qwen split pattern; `letters` is what a word is made of (\p{L}, or \p{L}\p{M} for qwen35). */
function qwenPattern(letters: string): RegExp {
  const source =
    `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])` +
    `|[^\\r\\n\\p{L}\\p{N}]?[${letters}]+` +
    `|\\p{N}` +
    `| ?[^${WS}${letters}\\p{N}]+[\\r\\n]*` +
    `|[${WS}]*[\\r\\n]+` +
    `|[${WS}]+(?![^${WS}])` +
    `|[${WS}]+`;
  return new RegExp(source, 'gu');
}

export interface PreTokenizer {
  /** tokenizer.ggml.pre */
  name: string;
  /** The split regex (global, unicode). */
  pattern: RegExp;
  /** The HF tokenizer NFC-normalizes text before splitting (llama.cpp does not; see Tokenizer). */
  nfc: boolean;
}

// Qwen2/Qwen3/Qwen3-Next ("qwen2") and Qwen3.5 ("qwen35", which keeps combining marks with letters).
// Both tokenizer.json files have an NFC normalizer.
const PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  qwen2: { name: 'qwen2', pattern: qwenPattern('\\p{L}'), nfc: true },
  qwen35: { name: 'qwen35', pattern: qwenPattern('\\p{L}\\p{M}'), nfc: true },
};

export function supportedPreTokenizers(): string[] {
  return Object.keys(PRE_TOKENIZERS);
}

/** The pre-tokenizer for tokenizer.ggml.pre, or undefined when petrel does not know it. */
export function preTokenizerFor(pre: string): PreTokenizer | undefined {
  return PRE_TOKENIZERS[pre];
}

/** Splits text (already normalized as wanted) into pre-tokens. */
export function splitPieces(text: string, pre: PreTokenizer): string[] {
  return text.match(pre.pattern) ?? [];
}
