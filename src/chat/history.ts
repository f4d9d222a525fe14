// The chat's input history, kept between runs like a shell's: one JSON string per line (so an entry
// may hold several lines), newest last, at most HISTORY_LIMIT entries, readable by the user only.
// It lives in petrel's state directory: $PETREL_CHAT_HISTORY, else $XDG_STATE_HOME/petrel/chat_history,
// else ~/.local/state/petrel/chat_history (XDG puts history in the state directory).
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const HISTORY_LIMIT = 1000;

export function historyFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PETREL_CHAT_HISTORY) return path.resolve(env.PETREL_CHAT_HISTORY);
  const state = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(state, 'petrel', 'chat_history');
}

export class InputHistory {
  readonly file: string | undefined;
  #entries: string[];

  /** file undefined: history for this run only (--no-history). */
  constructor(file: string | undefined) {
    this.file = file;
    this.#entries = file ? readEntries(file) : [];
    // Trim a file that grew past the limit (appends never rewrite it).
    if (file && this.#entries.length > HISTORY_LIMIT) {
      this.#entries = this.#entries.slice(-HISTORY_LIMIT);
      rewrite(file, this.#entries);
    }
  }

  get entries(): readonly string[] {
    return this.#entries;
  }

  add(entry: string): void {
    if (entry.trim() === '' || this.#entries.at(-1) === entry) return;
    this.#entries.push(entry);
    if (!this.file) return;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      appendFileSync(this.file, JSON.stringify(entry) + '\n', { mode: 0o600 });
    } catch {
      // History is a convenience: a read-only home must not stop the chat.
    }
  }
}

function readEntries(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v === 'string') entries.push(v);
    } catch {
      // A damaged line (a crash mid-append) is skipped, the rest kept.
    }
  }
  return entries;
}

function rewrite(file: string, entries: string[]): void {
  try {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, entries.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch {
    // Keep the long file rather than fail.
  }
}
