// Qwen3.5's added tokens (ids 248044..248076 in the real vocabulary) and the GGUF token types
// llama.cpp's converter gives them: names shaped <|...|> are CONTROL (special, and also matched by
// the converter's does_token_look_special), the tool/think markers are USER_DEFINED because the HF
// tokenizer marks them special=false (as Qwen3's tokenizer_config.json does).

import { TokenType } from '../../tokenizer/vocabulary.js';

/** tokenizer.ggml.token_type values (defined with the runtime tokenizer). */
export { TokenType };

/** Id of the first added token in the real Qwen3.5 vocabulary. */
export const QWEN35_FIRST_SPECIAL_ID = 248044;
/** Rows of token_embd / output in every published Qwen3.5 model (padded vocabulary). */
export const QWEN35_VOCAB_SIZE = 248320;

/** The 33 added tokens in id order: QWEN35_FIRST_SPECIAL_ID + index is the real id. */
export const QWEN35_SPECIAL_TOKENS: readonly string[] = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|object_ref_start|>',
  '<|object_ref_end|>',
  '<|box_start|>',
  '<|box_end|>',
  '<|quad_start|>',
  '<|quad_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|vision_pad|>',
  '<|image_pad|>',
  '<|video_pad|>',
  '<tool_call>',
  '</tool_call>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|fim_pad|>',
  '<|repo_name|>',
  '<|file_sep|>',
  '<tool_response>',
  '</tool_response>',
  '<think>',
  '</think>',
  '<|audio_start|>',
  '<|audio_end|>',
  '<tts_pad>',
  '<tts_text_bos>',
  '<tts_text_eod>',
  '<tts_text_bos_single>',
  '<|audio_pad|>',
];

/** Added tokens the HF tokenizer does not mark special: the converter writes them USER_DEFINED. */
const USER_DEFINED = new Set(['<tool_call>', '</tool_call>', '<tool_response>', '</tool_response>', '<think>', '</think>']);

export function specialTokenType(token: string): number {
  return USER_DEFINED.has(token) ? TokenType.USER_DEFINED : TokenType.CONTROL;
}

/** The converter's name for an id the tokenizer does not define. */
export function padToken(id: number): string {
  return `[PAD${id}]`;
}
