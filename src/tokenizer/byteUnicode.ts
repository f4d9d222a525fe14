// GPT-2's reversible byte <-> unicode mapping. Byte-level BPE vocabularies (tokenizer.ggml.model
// "gpt2" in GGUF) store every token as text in which each byte is one printable code point:
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order.

const byteToChar: string[] = [];
const charToByte = new Map<string, number>();

(function build() {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    const ch = String.fromCodePoint(printable(b) ? b : 256 + next++);
    byteToChar[b] = ch;
    charToByte.set(ch, b);
  }
})();

/** The unicode character that stands for byte `b` (0..255) in vocabulary text. */
export function byteChar(b: number): string {
  return byteToChar[b]!;
}

/** Encodes UTF-8 text into its byte-level vocabulary form (one code point per byte). */
export function bytesToUnicode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += byteToChar[b]!;
  return out;
}

/** Decodes vocabulary text back to raw bytes; throws on a code point outside the mapping. */
export function unicodeToBytes(token: string): Buffer {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = charToByte.get(ch);
    if (b === undefined) throw new Error(`not a byte-level token character: U+${ch.codePointAt(0)!.toString(16)}`);
    bytes.push(b);
  }
  return Buffer.from(bytes);
}

/**
 * Like unicodeToBytes, but a character outside the mapping (a malformed vocabulary) stands for its
 * own UTF-8 bytes instead of throwing, so generated text never aborts on one bad token.
 */
export function unicodeToBytesLenient(token: string): Uint8Array {
  const bytes: number[] = [];
  for (const ch of token) {
    const b = charToByte.get(ch);
    if (b !== undefined) bytes.push(b);
    else for (const u of Buffer.from(ch, 'utf8')) bytes.push(u);
  }
  return Uint8Array.from(bytes);
}
