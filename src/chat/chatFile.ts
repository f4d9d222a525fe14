// /save and /load: the conversation as JSON (FILE) and the session's model state beside it
// (FILE.state, written by Session.saveToFile), so /load resumes without prefilling anything.
// The JSON records which model it belongs to: the engine's fingerprint covers only the model's
// shapes, so a digest of the file (its size and first and last MiB) tells apart two models of the
// same shape (two quantizations, two fine-tunes) before a state is restored into the wrong one.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, renameSync, fstatSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ChatMessage } from '../templates/index.js';

export const CHAT_FILE_FORMAT = 'petrel-chat';
export const CHAT_FILE_VERSION = 1;

export interface ModelIdentity {
  name: string;
  /** The engine's shape fingerprint (what Session.loadFromFile checks). */
  fingerprint: string;
  /** sha256 of the file size and its first and last MiB. */
  digest: string;
}

export interface ChatFile {
  format: typeof CHAT_FILE_FORMAT;
  version: typeof CHAT_FILE_VERSION;
  model: ModelIdentity & { path: string };
  /** The model state, relative to the JSON file. */
  state: string;
  system?: string;
  thinking: boolean;
  messages: ChatMessage[];
  /** The tokens the saved state holds (the conversation's source of truth). */
  tokens: number[];
  savedAt: string;
}

const SAMPLE = 1 << 20;

/** A cheap identity of a GGUF file: size plus its first and last MiB (metadata and the last tensors). */
export function modelDigest(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const hash = createHash('sha256').update(String(size));
    const read = (offset: number, length: number) => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      hash.update(buf.subarray(0, n));
    };
    read(0, Math.min(SAMPLE, size));
    if (size > SAMPLE) read(Math.max(SAMPLE, size - SAMPLE), Math.min(SAMPLE, size - SAMPLE));
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

export function statePathFor(file: string): string {
  return `${file}.state`;
}

/** Writes the JSON through a temporary file and a rename (the state file is written first by the caller). */
export function writeChatFile(file: string, data: ChatFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data, null, 1) + '\n');
  renameSync(tmp, file);
}

/** Reads and checks a chat file; the state file's path comes back absolute. */
export function readChatFile(file: string): ChatFile & { statePath: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UserError(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, 'ERR_USER_CHAT_FILE');
  }
  const f = parsed as Partial<ChatFile>;
  if (f?.format !== CHAT_FILE_FORMAT) throw new UserError(`${file} is not a petrel chat file`, 'ERR_USER_CHAT_FILE');
  if (f.version !== CHAT_FILE_VERSION) {
    throw new UserError(`${file} is a version ${String(f.version)} chat file; this petrel reads version ${CHAT_FILE_VERSION}`, 'ERR_USER_CHAT_FILE');
  }
  const valid =
    typeof f.model?.fingerprint === 'string' &&
    typeof f.model.digest === 'string' &&
    typeof f.state === 'string' &&
    Array.isArray(f.messages) &&
    f.messages.every((m) => typeof m?.content === 'string' && ['user', 'assistant'].includes(m.role)) &&
    Array.isArray(f.tokens) &&
    f.tokens.every((t) => Number.isInteger(t) && t >= 0);
  if (!valid) throw new UserError(`${file} is damaged (fields missing or of the wrong type)`, 'ERR_USER_CHAT_FILE');
  const statePath = path.resolve(path.dirname(file), f.state!);
  if (!existsSync(statePath)) throw new UserError(`${file}: its model state ${statePath} is missing`, 'ERR_USER_CHAT_FILE');
  return { ...(f as ChatFile), statePath };
}

/** Refuses a chat saved with another model, naming both. */
export function checkSameModel(file: string, saved: ModelIdentity & { path: string }, current: ModelIdentity & { path: string }): void {
  if (saved.fingerprint === current.fingerprint && saved.digest === current.digest) return;
  throw new UserError(
    `${file} belongs to another model (${saved.name || path.basename(saved.path)}, ${saved.path}); this chat runs ${current.name || path.basename(current.path)} (${current.path})`,
    'ERR_USER_CHAT_FILE',
  );
}
