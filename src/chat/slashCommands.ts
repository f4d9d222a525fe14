// The chat's slash commands: the table (help text and completion come from it), parsing of a
// submitted line, and Tab completion of command names and fixed argument values.

export interface SlashCommand {
  name: string;
  /** Argument synopsis for help, '' for none. */
  args: string;
  summary: string;
  /** Whether an argument is required, optional or not taken. */
  arg: 'none' | 'optional' | 'required';
  /** Fixed argument values, completed with Tab. */
  values?: readonly string[];
}

export const SLASH_COMMANDS: readonly SlashCommand[] = [
  { name: 'help', args: '', summary: 'show commands and keys', arg: 'none' },
  { name: 'clear', args: '', summary: 'forget the conversation (the system prompt stays)', arg: 'none' },
  { name: 'system', args: '[TEXT]', summary: 'show the system prompt, or set it and start over', arg: 'optional' },
  { name: 'think', args: 'on|off', summary: 'let the model reason before answering, or not', arg: 'optional', values: ['on', 'off'] },
  { name: 'save', args: 'FILE', summary: 'save the conversation and its model state', arg: 'required' },
  { name: 'load', args: 'FILE', summary: 'resume a saved conversation (same model)', arg: 'required' },
  { name: 'stats', args: '', summary: 'context, speed and memory', arg: 'none' },
  { name: 'exit', args: '', summary: 'leave (also Ctrl-D)', arg: 'none' },
];

export type ParsedSlash = { ok: true; command: SlashCommand; arg: string } | { ok: false; error: string };

/** A line is a command when it starts with "/" (but "//" sends the rest as a message starting with "/"). */
export function isSlashCommand(line: string): boolean {
  return line.startsWith('/') && !line.startsWith('//');
}

/** The message text of a line that is not a command ("//x" is the message "/x"). */
export function messageText(line: string): string {
  return line.startsWith('//') ? line.slice(1) : line;
}

export function parseSlashCommand(line: string): ParsedSlash {
  const m = /^\/(\S*)\s*([\s\S]*)$/.exec(line.trim());
  const name = m?.[1] ?? '';
  const arg = (m?.[2] ?? '').trim();
  const command = SLASH_COMMANDS.find((c) => c.name === name) ?? uniquePrefix(name);
  if (!command) return { ok: false, error: `unknown command /${name} (try /help)` };
  if (command.arg === 'none' && arg !== '') return { ok: false, error: `/${command.name} takes no argument` };
  if (command.arg === 'required' && arg === '') return { ok: false, error: `usage: /${command.name} ${command.args}` };
  if (command.values && arg !== '' && !command.values.includes(arg)) {
    return { ok: false, error: `usage: /${command.name} ${command.args}` };
  }
  return { ok: true, command, arg };
}

function uniquePrefix(name: string): SlashCommand | undefined {
  if (name === '') return undefined;
  const hits = SLASH_COMMANDS.filter((c) => c.name.startsWith(name));
  return hits.length === 1 ? hits[0] : undefined;
}

export interface Completion {
  /** The input after Tab (unchanged when nothing could be added). */
  text: string;
  /** What still matches, to show under the input. */
  candidates: string[];
}

/** Completes "/na" to "/name " and "/think o" to the values that match; undefined when the input is no command. */
export function completeSlash(input: string): Completion | undefined {
  if (!isSlashCommand(input) || input.includes('\n')) return undefined;
  const space = input.indexOf(' ');
  if (space < 0) {
    const prefix = input.slice(1);
    const hits = SLASH_COMMANDS.filter((c) => c.name.startsWith(prefix)).map((c) => c.name);
    if (hits.length === 1) return { text: `/${hits[0]}${SLASH_COMMANDS.find((c) => c.name === hits[0])!.arg === 'none' ? '' : ' '}`, candidates: hits };
    return { text: `/${commonPrefix(hits) || prefix}`, candidates: hits };
  }
  const command = SLASH_COMMANDS.find((c) => c.name === input.slice(1, space));
  if (!command?.values) return { text: input, candidates: [] };
  const typed = input.slice(space + 1).trimStart();
  const hits = command.values.filter((v) => v.startsWith(typed));
  const head = input.slice(0, space + 1);
  if (hits.length === 1) return { text: head + hits[0], candidates: hits };
  return { text: head + (commonPrefix(hits) || typed), candidates: hits };
}

/** Commands (with synopsis) matching what is typed so far, for the hint under the input. */
export function slashHints(input: string): SlashCommand[] {
  if (!isSlashCommand(input) || input.includes(' ') || input.includes('\n')) return [];
  return SLASH_COMMANDS.filter((c) => c.name.startsWith(input.slice(1)));
}

function commonPrefix(words: string[]): string {
  if (words.length === 0) return '';
  let p = words[0]!;
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

export function helpText(): string {
  const width = Math.max(...SLASH_COMMANDS.map((c) => `/${c.name} ${c.args}`.length));
  const lines = SLASH_COMMANDS.map((c) => `  ${`/${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`);
  return [
    'Commands (Tab completes):',
    ...lines,
    'Keys:',
    '  Enter send · Ctrl-J or a line ending in \\ adds a line · pastes keep their lines',
    '  Up/Down history · Ctrl-T show/hide reasoning (all turns) · Ctrl-C stop the answer (at an empty prompt: quit)',
    '  Ctrl-D quit (during an answer: stop it, then quit)',
    '  A message that starts with / is written //…',
  ].join('\n');
}
