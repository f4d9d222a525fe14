// Where a one-shot prompt comes from: the argument and/or stdin when stdin is a pipe or a file
// (as ollama and llm do: piped text first, then the argument, so `cat f | petrel run m "Summarize"` reads naturally).

/** All of stdin as UTF-8, or undefined when stdin is a terminal (never wait for typing). */
export async function readStdinIfPiped(stdin: NodeJS.ReadStream = process.stdin): Promise<string | undefined> {
  if (stdin.isTTY) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The prompt text. For chat prompts surrounding whitespace is dropped and the parts are joined by
 * a blank line; raw prompts are kept exactly as written (the parts simply concatenated).
 */
export function combinePrompt(argument: string | undefined, piped: string | undefined, raw: boolean): string {
  if (raw) return (piped ?? '') + (argument ?? '');
  return [piped, argument]
    .map((p) => p?.trim() ?? '')
    .filter((p) => p !== '')
    .join('\n\n');
}
