// Qwen3.5's pre-tokenizer: the split regex from its tokenizer.json, as llama.cpp rewrites it for
// tokenizer.ggml.pre = "qwen35" (the (?i:...) group spelled out, since neither std::regex nor
// older V8 take inline flags). It differs from Qwen2/Qwen3 only in keeping \p{M} with letters.
const QWEN35_SPLIT =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Splits NFC-normalized text into the pieces BPE merges never cross. */
export function pretokenize(text: string): string[] {
  return text.normalize('NFC').match(QWEN35_SPLIT) ?? [];
}
