// The petrel command line: commander program, one file per command, one top-level error policy.
import { Command, CommanderError } from 'commander';
import { isUserFacing } from '../errors.js';
import { guardStdio } from './stdio.js';
import { versionText } from './commands/version.js';
import { registerRunCommand } from './commands/run.js';
import { registerChatCommand } from './commands/chat.js';
import { registerShowCommand } from './commands/show.js';
import { registerSynthCommand } from './commands/synth.js';
import { registerPullCommand } from './commands/pull.js';
import { registerListCommand } from './commands/list.js';
import { registerRmCommand } from './commands/rm.js';
import { registerQuantizeCommand } from './commands/quantize.js';
import { registerBenchCommand } from './commands/bench.js';

export function buildProgram(): Command {
  const program = new Command('petrel')
    .description('Run Qwen3.5-family models locally (hybrid Gated DeltaNet + attention, dense and MoE, GGUF)')
    // --version prints more than a number (what this build can use here); main() answers it.
    .option('-V, --version', 'print the version, the CPU features found and the backends compiled in (also -v)');

  program.commandsGroup('Generate:');
  registerRunCommand(program);
  registerChatCommand(program);
  program.commandsGroup('Models:');
  registerPullCommand(program);
  registerListCommand(program);
  registerShowCommand(program);
  registerRmCommand(program);
  registerQuantizeCommand(program);
  program.commandsGroup('Benchmark:');
  registerBenchCommand(program);
  program.commandsGroup('Development:');
  registerSynthCommand(program);
  for (const cmd of [program, ...program.commands]) oneLineUsageErrors(cmd);
  program.addHelpText(
    'after',
    '\nExamples:\n' +
      '  petrel bench                                  # speed test on a built-in synthetic model, no download\n' +
      '  petrel synth tiny tiny.gguf                   # write a small random-weight model\n' +
      '  petrel run tiny.gguf "Why is the sky blue?"   # one answer on stdout (random weights: gibberish)\n' +
      '  petrel run qwen3.5:0.8b "hi"                  # a real model: offers to download it first\n' +
      '\nWhere a model runs: run, chat and bench take --device auto|cpu|vulkan (default auto: a Vulkan GPU when\n' +
      "one is found and the model fits its memory, else the CPU) and -ngl, --gpu-layers N (llama.cpp's -ngl: all\n" +
      'or 0; a model runs wholly on one device).\n' +
      '\n"petrel help <command>" or "petrel <command> --help" shows a command\'s options and examples.\n',
  );
  return program;
}

/**
 * A usage error is one line naming the command's own help: `petrel run: unknown option '-x' (see
 * "petrel run --help")`, rather than commander's two lines pointing at the top-level help.
 */
function oneLineUsageErrors(cmd: Command): void {
  const name = cmd.parent ? `petrel ${cmd.name()}` : 'petrel';
  cmd.exitOverride();
  cmd.showHelpAfterError(false);
  cmd.configureOutput({
    outputError: (str, write) => {
      const message = str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      write(`${name}: ${message} (see "${name} --help")\n`);
    },
  });
}

export async function main(argv: string[]): Promise<void> {
  guardStdio();
  const first = argv[2];
  if (first === '--version' || first === '-V' || first === '-v') {
    process.stdout.write(versionText() + '\n');
    return;
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints one line for errors the user can act on, a stack for bugs; returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (help, version, or a usage error).
    return err.exitCode;
  }
  if (isUserFacing(err)) {
    process.stderr.write(`petrel: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`petrel: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
