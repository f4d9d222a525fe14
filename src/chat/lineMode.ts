// `petrel chat` when stdin or stdout is not a terminal: no Ink, plain lines. Each input line is a
// user turn (a line ending in "\" continues on the next; lines starting with "/" are the slash
// commands), each answer goes to stdout followed by a newline; reasoning (with --show-thinking),
// command output, warnings and errors go to stderr. Ctrl-C stops the answer, a second one exits 130.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isUserFacing } from '../errors.js';
import { runSlashCommand } from './chatCommands.js';
import { isSlashCommand, messageText, parseSlashCommand } from './slashCommands.js';
import type { ChatBackend } from './types.js';

export interface LineModeIo {
  input: Readable;
  output: Writable;
  errors: Writable;
  showThinking: boolean;
}

/** Returns the exit code: 0, or 1 when a turn or command failed (an interrupt at the prompt exits 130 at once). */
export async function runLineMode(chat: ChatBackend, io: LineModeIo): Promise<number> {
  const lines = createInterface({ input: io.input, terminal: false, crlfDelay: Infinity });
  let failed = false;
  let abort: AbortController | undefined;
  const onSigint = () => {
    // The first Ctrl-C stops the answer being written; otherwise (or a second time) we leave.
    if (abort && !abort.signal.aborted) {
      abort.abort();
      return;
    }
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  let pending = '';
  try {
    for await (const raw of lines) {
      if (raw.endsWith('\\')) {
        pending += raw.slice(0, -1) + '\n';
        continue;
      }
      const line = (pending + raw).trim();
      pending = '';
      if (line === '') continue;
      if (isSlashCommand(line)) {
        const outcome = await runSlashCommand(chat, parseSlashCommand(line));
        if (outcome.exit) break;
        if (outcome.level === 'error') failed = true;
        if (outcome.text) io.errors.write(`${outcome.level === 'error' ? 'petrel: ' : ''}${outcome.text}\n`);
        continue;
      }
      abort = new AbortController();
      if (!(await answer(chat, messageText(line), abort.signal, io))) failed = true;
      abort = undefined;
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  return failed ? 1 : 0;
}

async function answer(chat: ChatBackend, text: string, signal: AbortSignal, io: LineModeIo): Promise<boolean> {
  let reasoningOpen = false;
  let last = '\n';
  try {
    const result = await chat.ask(text, {
      signal,
      onEvent: (e) => {
        if (e.type === 'reasoning') {
          if (io.showThinking) io.errors.write(e.text);
          reasoningOpen = io.showThinking;
          return;
        }
        if (reasoningOpen) {
          io.errors.write('\n\n');
          reasoningOpen = false;
        }
        const out = e.type === 'content' ? e.text : e.raw + '\n';
        if (out === '') return;
        io.output.write(out);
        last = out;
      },
      onNotice: (n) => io.errors.write(`petrel: ${n.level === 'warn' ? 'warning: ' : ''}${n.text}\n`),
    });
    if (reasoningOpen) io.errors.write('\n');
    // Every answer ends with exactly one newline, so each turn's answer is one block of lines.
    if (!last.endsWith('\n')) io.output.write('\n');
    else if (last === '\n' && result.text === '') io.output.write('\n');
    return true;
  } catch (err) {
    if (!isUserFacing(err)) throw err;
    io.errors.write(`petrel: ${err.message}\n`);
    return false;
  }
}
