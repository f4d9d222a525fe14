// What generating needs to know about a chat prompt the template renders, for run and chat alike.
import type { Tokenizer } from '../tokenizer/index.js';

/** The template variable eos_token, as transformers passes it. */
export function eosTokenText(tokenizer: Tokenizer): string {
  const id = tokenizer.vocabulary.eosId;
  return id !== undefined ? (tokenizer.vocabulary.tokens[id] ?? '') : '';
}

/** Qwen3.5's generation prompt ends inside <think> when the template opened one and did not close it. */
export function promptEndsInReasoning(prompt: string): boolean {
  return /<think>\s*$/.test(prompt);
}
