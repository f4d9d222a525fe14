// Where a one-shot prompt comes from: the argument; -f FILE (- for stdin); stdin when it is piped
// and no argument was given. A prompt argument leaves stdin alone, so `while read q; do petrel run
// m "$q"; done < qs.txt` keeps its input and `sleep 8 | petrel run m hi` does not wait. When a file
// (or `-f -`) and an argument are both given, the file comes first, then the argument, so
// `cat f | petrel run m -f - "Summarize"` reads naturally.
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';

/** All of stdin as UTF-8, or undefined when stdin is a terminal (never wait for typing). */
export async function readStdinIfPiped(stdin: NodeJS.ReadStream = process.stdin): Promise<string | undefined> {
  if (stdin.isTTY) return undefined;
  return readAll(stdin);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** -f/--file: the file's text, or all of stdin for `-` (read even from a terminal: the user asked for it). */
export async function readPromptFile(file: string, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (file === '-') return readAll(stdin);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UserError(`--file ${file}: ${why}`, 'ERR_USER_NO_FILE');
  }
}

/**
 * The prompt text. For chat prompts surrounding whitespace is dropped and the parts are joined by
 * a blank line; raw prompts are kept exactly as written (the parts simply concatenated).
 */
export function combinePrompt(argument: string | undefined, before: string | undefined, raw: boolean): string {
  if (raw) return (before ?? '') + (argument ?? '');
  return [before, argument]
    .map((p) => p?.trim() ?? '')
    .filter((p) => p !== '')
    .join('\n\n');
}
