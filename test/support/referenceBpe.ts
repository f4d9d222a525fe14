// A plain, independent reference encoder/decoder for a SynthVocab (test oracle, kept apart from
// src/tokenizer/ on purpose), used to check that llama.cpp tokenizes the
// embedded vocabulary the way it was built: added tokens first (longest match wins; CONTROL
// tokens only when parseSpecial), then the Qwen3.5 pre-tokenizer, then merges by rank.
import { bytesToUnicode, unicodeToBytes } from '../../src/tokenizer/byteUnicode.js';
import { pretokenize } from '../../src/synth/tokenizer/pretokenize.js';
import { TokenType } from '../../src/synth/tokenizer/specialTokens.js';
import type { SynthVocab } from '../../src/synth/tokenizer/vocab.js';

interface EncoderTables {
  ids: Map<string, number>;
  ranks: Map<string, number>;
  /** Added tokens, longest first, with whether they need parseSpecial. */
  added: Array<{ text: string; id: number; control: boolean }>;
}

const tables = new WeakMap<SynthVocab, EncoderTables>();

function tablesFor(vocab: SynthVocab): EncoderTables {
  let t = tables.get(vocab);
  if (t) return t;
  const ids = new Map<string, number>();
  vocab.tokens.forEach((tok, id) => {
    if (vocab.tokenTypes[id] !== TokenType.UNUSED) ids.set(tok, id);
  });
  const ranks = new Map<string, number>();
  vocab.merges.forEach((m, rank) => ranks.set(m, rank));
  const added = vocab.tokens
    .map((text, id) => ({ text, id, type: vocab.tokenTypes[id] }))
    .filter((a) => a.type === TokenType.CONTROL || a.type === TokenType.USER_DEFINED)
    .map(({ text, id, type }) => ({ text, id, control: type === TokenType.CONTROL }))
    .sort((a, b) => b.text.length - a.text.length || a.id - b.id);
  t = { ids, ranks, added };
  tables.set(vocab, t);
  return t;
}

export function encode(vocab: SynthVocab, text: string, opts: { parseSpecial?: boolean } = {}): number[] {
  const t = tablesFor(vocab);
  const out: number[] = [];
  let rest = text;
  while (rest.length > 0) {
    // The earliest added token in the rest of the text, longest first at equal positions.
    let at = -1;
    let hit: { text: string; id: number } | undefined;
    for (const a of t.added) {
      if (a.control && !opts.parseSpecial) continue;
      const i = rest.indexOf(a.text);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        hit = a;
      }
    }
    const plain = hit ? rest.slice(0, at) : rest;
    for (const piece of pretokenize(plain)) out.push(...encodePiece(t, bytesToUnicode(piece)));
    if (!hit) break;
    out.push(hit.id);
    rest = rest.slice(at + hit.text.length);
  }
  return out;
}

function encodePiece(t: EncoderTables, word: string): number[] {
  const symbols = [...word];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = t.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
  }
  return symbols.map((s) => {
    const id = t.ids.get(s);
    if (id === undefined) throw new Error(`BPE produced ${JSON.stringify(s)}, which is not a token`);
    return id;
  });
}

export function decode(vocab: SynthVocab, ids: number[]): string {
  const parts: Buffer[] = [];
  for (const id of ids) {
    const tok = vocab.tokens[id];
    if (tok === undefined) throw new Error(`token id ${id} is outside the vocabulary`);
    const type = vocab.tokenTypes[id];
    parts.push(type === TokenType.NORMAL ? unicodeToBytes(tok) : Buffer.from(tok, 'utf8'));
  }
  return Buffer.concat(parts).toString('utf8');
}
