// `petrel chat` when stdin or stdout is not a terminal: no Ink, plain lines. Each input line is a
// user turn (a line ending in "\" continues on the next; lines starting with "/" are the slash
// commands), each answer goes to stdout followed by a newline; reasoning (with --show-thinking),
// command output, warnings and errors go to stderr. With --json each turn is instead one line of
// JSON on stdout, written when the turn ends, so a script can tell where one answer stops. Ctrl-C
// stops the answer, a second one exits 130.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isUserFacing } from '../errors.js';
import { runSlashCommand } from './chatCommands.js';
import { isSlashCommand, messageText, parseSlashCommand } from './slashCommands.js';
import type { AskResult, ChatBackend, ChatNotice } from './types.js';

export interface LineModeIo {
  input: Readable;
  output: Writable;
  errors: Writable;
  showThinking: boolean;
  /** One JSON object per turn on stdout instead of the answer's text. */
  json?: boolean;
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
      const text = messageText(line);
      const ok = io.json ? await answerJson(chat, text, abort.signal, io) : await answer(chat, text, abort.signal, io);
      if (!ok) failed = true;
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
    if (result.noAnswer) io.errors.write(`petrel: warning: ${result.noAnswer}\n`);
    return true;
  } catch (err) {
    if (!isUserFacing(err)) throw err;
    io.errors.write(`petrel: ${err.message}\n`);
    return false;
  }
}

/** The turn as one line of JSON (field names as `petrel run --json`'s where they mean the same). */
async function answerJson(chat: ChatBackend, text: string, signal: AbortSignal, io: LineModeIo): Promise<boolean> {
  const notices: ChatNotice[] = [];
  const onNotice = (n: ChatNotice) => {
    notices.push(n);
    io.errors.write(`petrel: ${n.level === 'warn' ? 'warning: ' : ''}${n.text}\n`);
  };
  let result: AskResult;
  try {
    result = await chat.ask(text, { signal, onNotice });
  } catch (err) {
    if (!isUserFacing(err)) throw err;
    io.errors.write(`petrel: ${err.message}\n`);
    // Still one object for the turn, so a script reading one line per message stays in step.
    io.output.write(JSON.stringify({ user: text, error: { message: err.message, code: err.code }, notices }) + '\n');
    return false;
  }
  // Said like the chat's notices, and listed with them: the script sees why "text" is empty.
  if (result.noAnswer) onNotice({ level: 'warn', text: result.noAnswer });
  const { stats } = result;
  const status = chat.status();
  const perSecond = (n: number, ms: number) => (ms > 0 && n > 0 ? Math.round((n / ms) * 1000 * 100) / 100 : null);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const report = {
    user: text,
    text: result.text,
    reasoning: result.reasoning,
    finishReason: result.finishReason,
    usage: { promptTokens: stats.promptTokens, generatedTokens: stats.generatedTokens, contextUsed: status.contextUsed, contextLength: status.contextLength },
    timings: {
      prefillMs: round(stats.prefillMs),
      generateMs: round(stats.generateMs),
      prefillTokensPerSecond: perSecond(stats.promptTokens, stats.prefillMs),
      generateTokensPerSecond: perSecond(stats.generatedTokens, stats.generateMs),
    },
    notices,
  };
  io.output.write(JSON.stringify(report) + '\n');
  return true;
}
