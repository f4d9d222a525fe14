// What each slash command does to a chat; shared by the terminal UI and the line mode, which
// only differ in where the outcome is shown.
import { isUserFacing } from '../errors.js';
import { helpText, type ParsedSlash } from './slashCommands.js';
import { statsReport } from './statusText.js';
import type { ChatBackend } from './types.js';

export interface CommandOutcome {
  level: 'info' | 'warn' | 'error';
  text: string;
  exit?: boolean;
}

export async function runSlashCommand(chat: ChatBackend, parsed: ParsedSlash): Promise<CommandOutcome> {
  if (!parsed.ok) return { level: 'error', text: parsed.error };
  const { command, arg } = parsed;
  try {
    switch (command.name) {
      case 'help':
        return { level: 'info', text: helpText() };
      case 'clear':
        chat.clear();
        return { level: 'info', text: `conversation cleared${chat.system ? ' (the system prompt stays)' : ''}` };
      case 'system':
        if (arg === '') return { level: 'info', text: chat.system ? `system prompt: ${chat.system}` : 'no system prompt (set one with /system TEXT)' };
        chat.setSystem(arg);
        return { level: 'info', text: 'system prompt set; the conversation starts over' };
      case 'think':
        if (arg === '') return { level: 'info', text: `thinking is ${chat.thinking ? 'on' : 'off'}` };
        chat.setThinking(arg === 'on');
        return { level: 'info', text: `thinking ${arg} from the next answer` };
      case 'save':
        return { level: 'info', text: await chat.save(arg) };
      case 'load':
        return { level: 'info', text: await chat.load(arg) };
      case 'stats':
        return { level: 'info', text: statsReport(chat.status()) };
      case 'exit':
        return { level: 'info', text: '', exit: true };
    }
  } catch (err) {
    // A failed /save or /load is reported and the chat goes on; anything else is a bug.
    if (isUserFacing(err)) return { level: 'error', text: err.message };
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === 'string' && e.code.startsWith('E')) return { level: 'error', text: e.message };
    throw err;
  }
  return { level: 'error', text: `/${command.name} is not implemented` };
}
