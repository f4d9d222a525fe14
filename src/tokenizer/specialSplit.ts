// Added tokens are matched before BPE: llama.cpp's tokenizer_st_partition takes the added tokens
// longest first (by UTF-8 length) and cuts every remaining text fragment at each occurrence, so a
// longer token wins wherever it overlaps a shorter one. CONTROL tokens (<|im_start|>) are matched
// only when the caller asks to parse special tokens; USER_DEFINED ones (<think>) always are, as in HF.

/** A text fragment still to be BPE-encoded, or an added token's id. */
export type Fragment = string | number;

export interface AddedToken {
  text: string;
  id: number;
  /** Matched only with parseSpecial (CONTROL and UNKNOWN tokens). */
  special: boolean;
}

/** Orders added tokens as llama.cpp's cache_special_tokens (ties by id, where C++ leaves it open). */
export function sortAddedTokens(tokens: AddedToken[]): AddedToken[] {
  return tokens
    .map((t) => ({ t, bytes: Buffer.byteLength(t.text, 'utf8') }))
    .sort((a, b) => b.bytes - a.bytes || a.t.id - b.t.id)
    .map(({ t }) => t);
}

export function splitAddedTokens(text: string, added: readonly AddedToken[], parseSpecial: boolean): Fragment[] {
  let fragments: Fragment[] = [text];
  for (const token of added) {
    if (token.special && !parseSpecial) continue;
    if (token.text.length === 0) continue;
    let out: Fragment[] | undefined;
    for (let f = 0; f < fragments.length; f++) {
      const frag = fragments[f]!;
      const first = typeof frag === 'string' ? frag.indexOf(token.text) : -1;
      if (first < 0) {
        out?.push(frag);
        continue;
      }
      out ??= fragments.slice(0, f);
      let start = 0;
      for (let at = first; at >= 0; at = (frag as string).indexOf(token.text, start)) {
        if (at > start) out.push((frag as string).slice(start, at));
        out.push(token.id);
        start = at + token.text.length;
      }
      if (start < (frag as string).length) out.push((frag as string).slice(start));
    }
    if (out) fragments = out;
  }
  return fragments;
}
