// Runs the Ink chat screen on the real terminal until the user leaves; returns the exit code.
import { render } from 'ink';
import { ChatApp, type HistoryStore } from './components/ChatApp.js';
import type { Theme } from './theme.js';
import type { ChatBackend } from './types.js';

const BRACKETED_PASTE_ON = '\x1b[?2004h';
const BRACKETED_PASTE_OFF = '\x1b[?2004l';

export async function runTui(chat: ChatBackend, options: { theme: Theme; history: HistoryStore; banner: string }): Promise<number> {
  let code = 0;
  // Pastes arrive marked, so their line breaks stay line breaks instead of sending the message.
  process.stdout.write(BRACKETED_PASTE_ON);
  const restore = () => process.stdout.write(BRACKETED_PASTE_OFF);
  process.once('exit', restore);
  const app = render(<ChatApp chat={chat} theme={options.theme} history={options.history} banner={options.banner} onExit={(c) => (code = c)} />, {
    exitOnCtrlC: false,
    patchConsole: false,
  });
  try {
    await app.waitUntilExit();
  } finally {
    restore();
    process.off('exit', restore);
  }
  return code;
}
