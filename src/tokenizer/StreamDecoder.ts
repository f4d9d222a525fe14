// Streaming detokenization: one token can end in the middle of a UTF-8 character (byte-level BPE
// splits rare characters and emoji across tokens), so bytes are held back until the character is
// complete. TextDecoder's stream mode does exactly that, and turns bytes that can never form a
// character into U+FFFD instead of stalling.

export class StreamDecoder {
  readonly #bytesOf: (id: number) => Uint8Array;
  #decoder = new TextDecoder('utf-8');

  constructor(bytesOf: (id: number) => Uint8Array) {
    this.#bytesOf = bytesOf;
  }

  /** The text completed by this token (possibly ''). */
  push(id: number): string {
    return this.#decoder.decode(this.#bytesOf(id), { stream: true });
  }

  /** Whatever is still held back (an unfinished character becomes U+FFFD); the decoder is reset. */
  flush(): string {
    return this.#decoder.decode();
  }
}
