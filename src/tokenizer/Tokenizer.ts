// Tokenizer: text <-> token ids for a GGUF's byte-level BPE vocabulary, in TypeScript.
// encode = added tokens first (specialSplit), NFC where the model's HF tokenizer normalizes, the
// pre-tokenizer regex, then BPE per pre-token (cached: real text repeats its words constantly).
// Ids match llama.cpp's llama_tokenize, except that llama.cpp skips the NFC step; pass
// { normalize: false } to get its ids for text that is not already NFC.
import { loadNative } from '../native/index.js';
import { UserError } from '../errors.js';
import { BpeMerger } from './bpe.js';
import { unicodeToBytesLenient } from './byteUnicode.js';
import { preTokenizerFor, splitPieces, supportedPreTokenizers, type PreTokenizer } from './preTokenizer.js';
import { sortAddedTokens, splitAddedTokens, type AddedToken } from './specialSplit.js';
import { StreamDecoder } from './StreamDecoder.js';
import { TokenType, vocabularyFromGguf, type Vocabulary } from './vocabulary.js';

export interface EncodeOptions {
  /** Match CONTROL tokens such as <|im_start|> in the text (chat prompts); default false. */
  parseSpecial?: boolean;
  /** NFC-normalize when the model's tokenizer does (default true); false gives llama.cpp's ids. */
  normalize?: boolean;
  /** Prepend BOS when the vocabulary asks for it (tokenizer.ggml.add_bos_token); default false. */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Render CONTROL tokens (<|im_end|>) as their text; by default they decode to nothing. */
  special?: boolean;
}

/** Tokens that end a turn besides the declared eos/eot (llama.cpp's EOG list, Qwen's part). */
const EOG_TEXTS = ['<|im_end|>', '<|endoftext|>'];

/** Pre-tokens cached per tokenizer; cleared when full so memory stays bounded on huge inputs. */
const CACHE_LIMIT = 100_000;

export class Tokenizer {
  readonly vocabulary: Vocabulary;
  readonly pre: PreTokenizer;
  /** End-of-generation ids: eos, eot, <|im_end|>, <|endoftext|>. */
  readonly eogIds: ReadonlySet<number>;
  readonly #tokenToId = new Map<string, number>();
  readonly #merger: BpeMerger;
  readonly #added: AddedToken[];
  readonly #bytes: Array<Uint8Array | undefined>;
  #cache = new Map<string, number[]>();

  constructor(vocabulary: Vocabulary) {
    const pre = preTokenizerFor(vocabulary.pre);
    if (!pre) {
      throw new UserError(
        `tokenizer.ggml.pre "${vocabulary.pre}" is not supported (petrel knows ${supportedPreTokenizers().join(', ')})`,
        'ERR_UNSUPPORTED',
      );
    }
    this.vocabulary = vocabulary;
    this.pre = pre;
    const { tokens, tokenTypes } = vocabulary;
    // Later duplicates win, as in llama.cpp's token_to_id.
    tokens.forEach((t, id) => this.#tokenToId.set(t, id));
    this.#merger = new BpeMerger(this.#tokenToId, tokens.length, vocabulary.merges);
    const added: AddedToken[] = [];
    tokens.forEach((text, id) => {
      const type = tokenTypes[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED) {
        added.push({ text, id, special: type !== TokenType.USER_DEFINED });
      }
    });
    this.#added = sortAddedTokens(added);
    this.#bytes = new Array(tokens.length);
    const eog = new Set<number>();
    for (const id of [vocabulary.eosId, vocabulary.eotId]) if (id !== undefined) eog.add(id);
    for (const text of EOG_TEXTS) {
      const id = this.#tokenToId.get(text);
      if (id !== undefined) eog.add(id);
    }
    this.eogIds = eog;
  }

  /** Reads the vocabulary of a GGUF file (metadata only; no weights are loaded). */
  static fromGgufFile(path: string): Tokenizer {
    const gguf = loadNative().openGguf(path);
    try {
      return new Tokenizer(vocabularyFromGguf(gguf.metadata(), path));
    } finally {
      gguf.close();
    }
  }

  get size(): number {
    return this.vocabulary.tokens.length;
  }

  /** Id of a token by its exact vocabulary text (e.g. "<|im_end|>"). */
  tokenId(text: string): number | undefined {
    return this.#tokenToId.get(text);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.addBos && this.vocabulary.addBos && this.vocabulary.bosId !== undefined) out.push(this.vocabulary.bosId);
    const normalize = (options.normalize ?? true) && this.pre.nfc;
    for (const frag of splitAddedTokens(text, this.#added, options.parseSpecial ?? false)) {
      if (typeof frag === 'number') out.push(frag);
      else this.#encodeText(normalize ? frag.normalize('NFC') : frag, out);
    }
    return out;
  }

  #encodeText(text: string, out: number[]): void {
    for (const piece of splitPieces(text, this.pre)) {
      let ids = this.#cache.get(piece);
      if (!ids) {
        ids = this.#merger.encode(Buffer.from(piece, 'utf8'));
        if (this.#cache.size >= CACHE_LIMIT) this.#cache = new Map();
        this.#cache.set(piece, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** The bytes a token stands for in generated text ('' for control tokens unless `special`). */
  tokenBytes(id: number, options: DecodeOptions = {}): Uint8Array {
    const text = this.vocabulary.tokens[id];
    if (text === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (${this.size} tokens)`);
    const type = this.vocabulary.tokenTypes[id];
    if (type === TokenType.NORMAL) {
      let bytes = this.#bytes[id];
      if (!bytes) this.#bytes[id] = bytes = unicodeToBytesLenient(text);
      return bytes;
    }
    // As llama.cpp's token_to_piece: user-defined tokens are plain text, control/unknown ones only
    // on request, and unused/byte tokens never (a BPE vocabulary has no byte-fallback tokens).
    if (type === TokenType.USER_DEFINED) return Buffer.from(text, 'utf8');
    if ((type === TokenType.CONTROL || type === TokenType.UNKNOWN) && options.special) return Buffer.from(text, 'utf8');
    return EMPTY;
  }

  decode(ids: Iterable<number>, options: DecodeOptions = {}): string {
    const decoder = this.streamDecoder(options);
    let text = '';
    for (const id of ids) text += decoder.push(id);
    return text + decoder.flush();
  }

  /** A decoder for a token stream that never emits half a UTF-8 character. */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder((id) => this.tokenBytes(id, options));
  }
}

const EMPTY = new Uint8Array(0);
