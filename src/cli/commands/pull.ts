// `petrel pull <model>`: download a model into the Hugging Face cache (see src/store/pull.ts).
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { closeHttp } from '../../store/http.js';
import { createReporter } from '../../store/progress.js';
import { pullModel } from '../../store/pull.js';

export function registerPullCommand(program: Command): void {
  program
    .command('pull')
    .description('download a model into the Hugging Face cache (resumable, verified, shared with llama.cpp)')
    .argument('<model>', 'alias (qwen3.5:9b, qwen3.5:9b-q8_0), hf:owner/repo[:quant], hf:owner/repo/file.gguf, or an https:// URL')
    .option('--force', 'download even when the disk or memory check says it will not fit')
    .option('--ctx <tokens>', 'context length the memory check assumes', parsePositive, 8192)
    .option('--connections <n>', 'parallel connections per file', parsePositive, 4)
    .option('--json', 'print one JSON event per line on stdout instead of progress')
    .action(async (model: string, opts: { force?: boolean; ctx: number; connections: number; json?: boolean }) => {
      const reporter = createReporter(opts.json ? 'json' : process.stderr.isTTY ? 'tty' : 'lines');
      const controller = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        // First Ctrl-C stops cleanly and keeps the partial data; a second one leaves at once.
        if (++interrupts > 1) process.exit(130);
        controller.abort(new UserError('interrupted', 'ERR_USER_INTERRUPTED'));
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      try {
        const result = await pullModel(model, { force: opts.force, context: opts.ctx, connections: opts.connections, signal: controller.signal, reporter });
        if (!opts.json) process.stdout.write(result.path + '\n');
      } catch (err) {
        if (controller.signal.aborted) {
          reporter.close();
          process.stderr.write(`petrel: interrupted; the partial download is kept, run "petrel pull ${model}" again to resume\n`);
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        reporter.close();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        await closeHttp();
      }
    });
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`expected a positive whole number, got "${value}"`, 'ERR_USER_BAD_ARG');
  return n;
}
