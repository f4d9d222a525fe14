// `petrel chat <model>`: a conversation with a local model. On a terminal it is an Ink screen
// (src/chat/components); when stdin or stdout is not a terminal, or with --json, it reads one user
// turn per line and writes answers to stdout (src/chat/lineMode.ts). Both keep the model's session
// between turns, so each turn prefills only its own tokens (src/chat/conversation.ts).
import type { Command } from 'commander';
import { historyFile, InputHistory } from '../../chat/history.js';
import { checkDeviceFlags, DeviceCommand, deviceLoadOptions } from '../deviceFlags.js';
import { ensureModel } from '../ensureModel.js';
import { addGenerationOptions, THREADS_HELP, type GenerationFlags } from '../generationFlags.js';

interface ChatFlags extends GenerationFlags {
  history?: boolean;
  json?: boolean;
}

export function registerChatCommand(program: Command): void {
  const cmd = new DeviceCommand('chat');
  program.addCommand(cmd);
  cmd
    .description('talk with a model: a terminal UI, or one turn per line when piped')
    .argument('<model>', 'a pulled model (alias like qwen3.5:0.8b, hf:owner/repo[:quant], URL) or a .gguf path')
    .option('--no-history', 'do not read or write the input history')
    .option('--json', 'no terminal UI: read turns from stdin, write one JSON object per turn to stdout (user, text, reasoning, finishReason, usage, timings, notices)');
  addGenerationOptions(cmd, {
    showThinking: 'when piped: write the reasoning to stderr (the terminal UI shows it dimmed; Ctrl-T hides it)',
    slashCommands: { system: 'change it with /system', think: '/think on', noThink: '/think off' },
  });
  cmd.addHelpText(
    'after',
    '\nIn the terminal UI: Enter sends, Ctrl-J (or a line ending in \\) adds a line, Up/Down walk the history,\n' +
      'Tab completes /commands, Ctrl-T shows/hides reasoning (finished turns too: the screen is redrawn),\n' +
      'Ctrl-C stops the answer (again, or at an empty prompt: quits, exit 130), Ctrl-D quits (exit 0; during an answer\n' +
      'it stops it first). Commands: /help /clear /system /think on|off /save FILE /load FILE /stats /exit.\n' +
      'Piped: each line of stdin is a turn, answers go to stdout, one per turn; with --json, one JSON line per turn\n' +
      '(a failed turn too, with "error"); commands, warnings and errors go to stderr.\n\n' +
      'When an answer never came (-n or the context ran out while the model was still reasoning, or it\n' +
      'stopped inside its reasoning) one line says so, as in petrel run.\n\n' +
      THREADS_HELP +
      '\n' +
      `Input history: ${historyFile()} ($PETREL_CHAT_HISTORY, else $XDG_STATE_HOME/petrel/chat_history).\n\n` +
      'Examples:\n  petrel chat qwen3.5:0.8b\n  petrel chat qwen3.5:0.8b --pull missing            # download the model first if needed\n' +
      '  printf "hi\\nand then?\\n" | petrel chat model.gguf --no-think\n' +
      '  printf "hi\\nand then?\\n" | petrel chat model.gguf --json | jq -r .text\n',
  );
  cmd.action(async (model: string, flags: ChatFlags) => {
    checkDeviceFlags(flags);
    // A known alias not downloaded yet is offered for download on a terminal, as run does (--pull for
    // scripts); ensureModel loads the store only now, so --help stays fast.
    const modelPath = await ensureModel(model, { ...(flags.pull ? { pull: flags.pull } : {}), ...(flags.ctx !== undefined ? { context: flags.ctx } : {}) });
    process.exitCode = await chatCommand(modelPath, flags);
  });
}

/** The terminal UI needs a terminal on both sides (Ink sets raw mode on stdin), and not a dumb one. */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && process.env.TERM !== 'dumb';
}

async function chatCommand(modelPath: string, flags: ChatFlags): Promise<number> {
  const thinking = flags.think ?? true;
  const { Chat } = await import('../../chat/Chat.js');
  const chat = await Chat.open({
    modelPath,
    thinking,
    sampling: flags,
    ...(flags.system !== undefined ? { system: flags.system } : {}),
    ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
    ...(flags.ctx !== undefined ? { contextLength: flags.ctx } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...deviceLoadOptions(flags),
  });
  if (flags.ctx !== undefined) {
    // As run does: the trained context is only known once the model is loaded (sessions reserve
    // their KV cache as they fill, so a -c far too large costs nothing before this refuses it).
    const { checkContextLength } = await import('../../generate/contextLength.js');
    try {
      checkContextLength(flags.ctx, chat.model.info.contextLengthTrain, (line) => process.stderr.write(line + '\n'));
    } catch (err) {
      chat.dispose();
      throw err;
    }
  }
  if (flags.json || !isInteractive()) {
    const { runLineMode } = await import('../../chat/lineMode.js');
    const code = await runLineMode(chat, {
      input: process.stdin,
      output: process.stdout,
      errors: process.stderr,
      showThinking: flags.showThinking ?? false,
      json: flags.json ?? false,
    });
    chat.dispose();
    return code;
  }
  // Loaded lazily: the line mode (scripts, CI) never pays for React and Ink.
  const { runTui } = await import('../../chat/tui.js');
  const { noColorRequested, themeFor } = await import('../../chat/theme.js');
  const history = new InputHistory(flags.history === false ? undefined : historyFile());
  const status = chat.status();
  const banner = `petrel chat · ${status.modelName} · context ${status.contextLength} tokens · /help for commands, Ctrl-D to quit`;
  const code = await runTui(chat, { theme: themeFor({ color: !noColorRequested() }), history, banner });
  // A second Ctrl-C quits while the answer is still being generated: leave without waiting for it.
  if (chat.busy) process.exit(code);
  chat.dispose();
  return code;
}
