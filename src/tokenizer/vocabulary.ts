// The tokenizer.ggml.* keys of a GGUF, read into plain arrays (what llama.cpp's llama_vocab::load
// reads for tokenizer.ggml.model = "gpt2").
import type { GgufKv } from '../native/index.js';
import { UserError } from '../errors.js';

/** tokenizer.ggml.token_type values (llama_token_type / gguf.TokenType). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export interface Vocabulary {
  /** tokenizer.ggml.model; only "gpt2" (byte-level BPE) is supported. */
  model: string;
  /** tokenizer.ggml.pre */
  pre: string;
  /** Token texts; normal tokens are byte-level (GPT-2 characters). */
  tokens: string[];
  /** One TokenType per token (NORMAL when the file has no token_type). */
  tokenTypes: number[];
  /** Merges in rank order, "left right". */
  merges: string[];
  eosId?: number;
  bosId?: number;
  eotId?: number;
  padId?: number;
  addBos: boolean;
  /** tokenizer.chat_template, when the file has one. */
  chatTemplate?: string;
}

/** Reads the vocabulary from GGUF metadata; throws a UserError for files without a usable one. */
export function vocabularyFromGguf(metadata: GgufKv[], source = 'model'): Vocabulary {
  const kv = new Map(metadata.map((m) => [m.key, m.value]));
  const str = (key: string) => {
    const v = kv.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const int = (key: string) => {
    const v = kv.get(key);
    return typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
  };
  const model = str('tokenizer.ggml.model');
  if (model === undefined || model === 'none' || model === 'no_vocab') {
    throw new UserError(`${source}: the file has no tokenizer (tokenizer.ggml.model is ${model ?? 'missing'})`, 'ERR_USER_NO_TOKENIZER');
  }
  if (model !== 'gpt2') {
    throw new UserError(`${source}: tokenizer.ggml.model "${model}" is not supported (petrel reads byte-level BPE, "gpt2")`, 'ERR_UNSUPPORTED');
  }
  const tokens = kv.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) {
    throw new UserError(`${source}: tokenizer.ggml.tokens is missing or not a string array`, 'ERR_CORRUPT_FILE');
  }
  const merges = kv.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges) || merges.some((t) => typeof t !== 'string')) {
    throw new UserError(`${source}: tokenizer.ggml.merges is missing or not a string array`, 'ERR_CORRUPT_FILE');
  }
  const types = kv.get('tokenizer.ggml.token_type');
  let tokenTypes: number[];
  if (Array.isArray(types)) {
    if (types.length !== tokens.length) {
      throw new UserError(`${source}: tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`, 'ERR_CORRUPT_FILE');
    }
    tokenTypes = types.map((t) => Number(t));
  } else {
    tokenTypes = new Array<number>(tokens.length).fill(TokenType.NORMAL);
  }
  const id = (key: string) => {
    const v = int(key);
    return v !== undefined && v >= 0 && v < tokens.length ? v : undefined;
  };
  const addBos = kv.get('tokenizer.ggml.add_bos_token');
  return {
    model,
    pre: str('tokenizer.ggml.pre') ?? 'default',
    tokens: tokens as string[],
    tokenTypes,
    merges: merges as string[],
    eosId: id('tokenizer.ggml.eos_token_id'),
    bosId: id('tokenizer.ggml.bos_token_id'),
    eotId: id('tokenizer.ggml.eot_token_id'),
    padId: id('tokenizer.ggml.padding_token_id'),
    addBos: addBos === true,
    chatTemplate: str('tokenizer.chat_template'),
  };
}
