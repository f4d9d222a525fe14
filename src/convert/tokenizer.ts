// tokenizer.json (+ tokenizer_config.json, chat_template.jinja, config.json) -> tokenizer.ggml.*,
// as llama.cpp's _set_vocab_gpt2 and SpecialVocab write them: one token per id up to the config's
// vocab_size ("[PAD<id>]", type UNUSED, where the tokenizer defines none), added tokens CONTROL when
// special or shaped <|…|>, else USER_DEFINED; merges as "left right"; special ids from the
// tokenizer_config token strings, then config.json's *_token_id for the ones still unset; the chat
// template from tokenizer_config.json, else chat_template.jinja.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { TokenType } from '../tokenizer/vocabulary.js';
import { readJson } from './checkpoint.js';
import type { TokenizerMetadata } from './ggufMetadata.js';

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** llama.cpp's does_token_look_special. */
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

export function convertTokenizer(dir: string, config: Record<string, unknown>, nVocab: number, pre: string): TokenizerMetadata {
  const file = path.join(dir, 'tokenizer.json');
  if (!existsSync(file)) throw new UserError(`${dir}: no tokenizer.json`, 'ERR_USER_NO_FILE');
  const tok = readJson(file, 'tokenizer.json');
  const model = tok['model'] as Record<string, unknown> | undefined;
  if (!model || model['type'] !== 'BPE') throw new UserError(`${file}: only BPE tokenizers are supported`, 'ERR_UNSUPPORTED');
  const vocab = model['vocab'];
  if (typeof vocab !== 'object' || vocab === null) throw new UserError(`${file}: no model.vocab`, 'ERR_CORRUPT_FILE');
  const byId = new Map<number, string>();
  const setId = (token: string, id: unknown) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= 1 << 24) {
      throw new UserError(`${file}: token ${JSON.stringify(token).slice(0, 40)} has a bad id`, 'ERR_CORRUPT_FILE');
    }
    byId.set(id as number, token);
  };
  for (const [token, id] of Object.entries(vocab as Record<string, unknown>)) setId(token, id);
  const added = new Map<number, AddedToken>();
  const addedList = tok['added_tokens'];
  if (Array.isArray(addedList)) {
    for (const a of addedList as AddedToken[]) {
      if (typeof a?.content !== 'string') throw new UserError(`${file}: bad added_tokens entry`, 'ERR_CORRUPT_FILE');
      setId(a.content, a.id);
      added.set(a.id, a);
    }
  }
  const maxId = Math.max(-1, ...byId.keys());
  const size = Math.max(nVocab, maxId + 1);
  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  for (let i = 0; i < size; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      tokenTypes.push(TokenType.UNUSED);
    } else if (added.has(i)) {
      tokens.push(t);
      tokenTypes.push(added.get(i)!.special || looksSpecial(t) ? TokenType.CONTROL : TokenType.USER_DEFINED);
    } else {
      tokens.push(t);
      tokenTypes.push(TokenType.NORMAL);
    }
  }

  const rawMerges = model['merges'];
  const merges: string[] = [];
  if (Array.isArray(rawMerges)) {
    for (const m of rawMerges) {
      if (typeof m === 'string') merges.push(m);
      else if (Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string')) merges.push(`${m[0]} ${m[1]}`);
      else throw new UserError(`${file}: bad merges entry`, 'ERR_CORRUPT_FILE');
    }
  }

  const out: TokenizerMetadata = { pre, tokens, tokenTypes, merges };
  const tcPath = path.join(dir, 'tokenizer_config.json');
  const tc = existsSync(tcPath) ? readJson(tcPath, 'tokenizer_config.json') : {};
  const idOf = (entry: unknown): number | undefined => {
    const content = typeof entry === 'string' ? entry : (entry as { content?: unknown } | null)?.content;
    if (typeof content !== 'string') return undefined;
    for (const [id, t] of byId) if (t === content) return id;
    return undefined;
  };
  const special: Record<'bos' | 'eos' | 'pad', number | undefined> = {
    bos: idOf(tc['bos_token']),
    eos: idOf(tc['eos_token']),
    pad: idOf(tc['pad_token']),
  };
  for (const k of ['bos', 'eos', 'pad'] as const) {
    const v = config[`${k}_token_id`];
    if (special[k] === undefined && Number.isSafeInteger(v) && (v as number) >= 0) special[k] = v as number;
  }
  out.bosId = special.bos;
  out.eosId = special.eos;
  out.padId = special.pad;
  if (typeof tc['add_bos_token'] === 'boolean') out.addBos = tc['add_bos_token'] as boolean;

  const jinja = path.join(dir, 'chat_template.jinja');
  const template = tc['chat_template'];
  if (typeof template === 'string') out.chatTemplate = template;
  else if (Array.isArray(template)) {
    const def = (template as { name?: unknown; template?: unknown }[]).find((t) => t.name === 'default');
    if (typeof def?.template === 'string') out.chatTemplate = def.template;
  } else if (existsSync(jinja)) out.chatTemplate = readFileSync(jinja, 'utf8');
  return out;
}
