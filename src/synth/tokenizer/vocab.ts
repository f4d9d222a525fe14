// The vocabulary a synthetic model embeds: exactly what goes into the tokenizer.ggml.* keys.

export interface SynthVocab {
  /** tokenizer.ggml.pre */
  pre: 'qwen35';
  /** tokenizer.ggml.tokens, byte-level (GPT-2 characters) for normal tokens. */
  tokens: string[];
  /** tokenizer.ggml.token_type, see TokenType. */
  tokenTypes: number[];
  /** tokenizer.ggml.merges in rank order ("left right"). */
  merges: string[];
  /** <|im_end|>: what Qwen3.5's tokenizer_config names eos_token. */
  eosId: number;
  /** <|endoftext|>: pad_token. */
  padId: number;
}

/** Id of `token` in `vocab`; throws when absent (a bug in the vocabulary builder). */
export function tokenId(vocab: SynthVocab, token: string): number {
  const id = vocab.tokens.indexOf(token);
  if (id < 0) throw new Error(`token ${JSON.stringify(token)} is not in the vocabulary`);
  return id;
}
