// /save and /load: the conversation as JSON (FILE) and the session's model state beside it
// (FILE.state, written by Session.saveToFile), so /load resumes without prefilling anything.
// The JSON records which model it belongs to (name, path, shape fingerprint) to refuse a file of
// another model early and name both; a model of the same shapes with other weights (another
// quantization or fine-tune) is refused by the engine itself, whose snapshots carry a digest of
// the weights (Session.loadFromFile throws a SnapshotMismatchError).
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ChatMessage } from '../templates/index.js';

export const CHAT_FILE_FORMAT = 'petrel-chat';
/** 2: the model state is a version 2 snapshot (with the engine's weights digest); no file digest here. */
export const CHAT_FILE_VERSION = 2;

export interface ModelIdentity {
  name: string;
  /** The engine's shape fingerprint (Session.loadFromFile checks it and the weights). */
  fingerprint: string;
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

export function statePathFor(file: string): string {
  return `${file}.state`;
}

/** Writes the JSON through a temporary file and a rename (the state file is written first by the caller). */
export function writeChatFile(file: string, data: ChatFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data, null, 1) + '\n');
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Refuses a /save target that cannot be a file, before the model state is written next to it. */
export function checkSaveTarget(file: string): void {
  if (isDirectory(file)) throw new UserError(`${file} is a directory; give a file name (/save ${path.join(file, 'chat.json')})`, 'ERR_USER_CHAT_FILE');
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Reads and checks a chat file; the state file's path comes back absolute. */
export function readChatFile(file: string): ChatFile & { statePath: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof SyntaxError) throw new UserError(`${file} is not a petrel chat file (not JSON)`, 'ERR_USER_CHAT_FILE');
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new UserError(`${file}: ${why}`, 'ERR_USER_CHAT_FILE');
  }
  const f = parsed as Partial<ChatFile>;
  if (f?.format !== CHAT_FILE_FORMAT) throw new UserError(`${file} is not a petrel chat file`, 'ERR_USER_CHAT_FILE');
  if (f.version !== CHAT_FILE_VERSION) {
    throw new UserError(`${file} is a version ${String(f.version)} chat file; this petrel reads version ${CHAT_FILE_VERSION}`, 'ERR_USER_CHAT_FILE');
  }
  const valid =
    typeof f.model?.fingerprint === 'string' &&
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

/** The error for a chat saved with another model, naming both. */
export function otherModelError(file: string, saved: ModelIdentity & { path: string }, current: ModelIdentity & { path: string }, cause?: unknown): UserError {
  return new UserError(
    `${file} belongs to another model (${saved.name || path.basename(saved.path)}, ${saved.path}); this chat runs ${current.name || path.basename(current.path)} (${current.path})`,
    'ERR_USER_CHAT_FILE',
    cause !== undefined ? { cause } : undefined,
  );
}

/** Refuses a chat saved with a model of other shapes (the engine refuses other weights when the state loads). */
export function checkSameModel(file: string, saved: ModelIdentity & { path: string }, current: ModelIdentity & { path: string }): void {
  if (saved.fingerprint !== current.fingerprint) throw otherModelError(file, saved, current);
}
