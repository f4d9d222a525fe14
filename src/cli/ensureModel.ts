// Opening a model by name the way ollama users expect: a known alias that is not downloaded yet is
// offered for download on a terminal, and scripts say what they want with --pull. Shared by run
// and chat; the download itself is src/store's pullModel, used as a library.
import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../errors.js';

export const PULL_POLICIES = ['missing', 'never', 'always'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

export function parsePullPolicy(value: string): PullPolicy {
  const v = value.toLowerCase();
  if (!(PULL_POLICIES as readonly string[]).includes(v)) throw new InvalidArgumentError(`--pull must be one of ${PULL_POLICIES.join(', ')}`);
  return v as PullPolicy;
}

export function addPullOption(cmd: Command): Command {
  return cmd.option(
    '--pull <when>',
    'download the model first: missing (when not downloaded), always (check for a newer revision), never; ' +
      'default: ask on a terminal, never otherwise',
    parsePullPolicy,
  );
}

export interface EnsureModelOptions {
  /** undefined: ask on a terminal (see `interactive`), otherwise behave as 'never'. */
  pull?: PullPolicy;
  /** Whether a question may be asked; default: stdin and stderr are terminals. */
  interactive?: boolean;
  /** Asks a yes/no question; default: a readline prompt on stderr (Enter = yes). */
  ask?: (question: string) => Promise<boolean>;
  /** The context the download's memory check assumes (the -c given to run or chat); default 8192. */
  context?: number;
  signal?: AbortSignal;
}

/**
 * The local file to open for a model reference: a path as it is, a downloaded model from the
 * cache, or (per the pull policy) one downloaded now with progress on stderr. stdout is left alone.
 */
export async function ensureModel(input: string, options: EnsureModelOptions = {}): Promise<string> {
  const { resolveLocalModel } = await import('../store/local.js');
  const policy = options.pull;
  if (policy !== 'always') {
    try {
      return resolveLocalModel(input);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_USER_NOT_PULLED') throw err;
      if (policy === 'never') throw err;
      if (policy === undefined) {
        const interactive = options.interactive ?? Boolean(process.stdin.isTTY && process.stderr.isTTY);
        if (!interactive) {
          throw new UserError(`${input} is not downloaded; run "petrel pull ${input}" first, or pass --pull missing`, 'ERR_USER_NOT_PULLED');
        }
        const ask = options.ask ?? askOnTerminal;
        if (!(await ask(`${input} is not downloaded. Download it now? [Y/n] `))) {
          throw new UserError(`${input} is not downloaded (petrel pull ${input} downloads it)`, 'ERR_USER_NOT_PULLED');
        }
      }
    }
  }
  return pullNow(input, options.context ?? 8192, options.signal);
}

async function pullNow(input: string, context: number, outer: AbortSignal | undefined): Promise<string> {
  const [{ pullModel }, { createReporter }, { closeHttp }] = await Promise.all([
    import('../store/pull.js'),
    import('../store/progress.js'),
    import('../store/http.js'),
  ]);
  // Progress goes to stderr: run's stdout carries only the answer.
  const reporter = createReporter(process.stderr.isTTY ? 'tty' : 'lines', process.stderr, process.stderr);
  // Ctrl-C stops the download cleanly (the store keeps what it has for the next pull); a second one leaves at once.
  const controller = new AbortController();
  const onOuter = () => controller.abort();
  outer?.addEventListener('abort', onOuter);
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await pullModel(input, { context, connections: 4, reporter, signal: controller.signal });
    return result.path;
  } catch (err) {
    if (interrupts > 0) {
      reporter.close();
      process.stderr.write(`petrel: interrupted; "petrel pull ${input}" or --pull missing takes the download up again\n`);
      process.exit(130);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    outer?.removeEventListener('abort', onOuter);
    reporter.close();
    await closeHttp();
  }
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C at the question leaves as Ctrl-C does everywhere else in petrel.
  rl.on('SIGINT', () => {
    process.stderr.write('\n');
    process.exit(130);
  });
  try {
    const answer = (await rl.question(question)).trim().toLowerCase();
    return answer === '' || answer === 'y' || answer === 'yes';
  } catch (err) {
    // Ctrl-D at the question (readline rejects with an AbortError): a "no", like any other refusal.
    if ((err as { code?: string }).code === 'ABORT_ERR') {
      process.stderr.write('\n');
      return false;
    }
    throw err;
  } finally {
    rl.close();
  }
}
