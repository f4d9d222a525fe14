// `petrel pull <model>`: download a model into the Hugging Face cache (see src/store/pull.ts).
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../../errors.js';
import { storeConfig } from '../../store/config.js';
import { closeHttp } from '../../store/http.js';
import { createReporter, type PullEvent, type Reporter } from '../../store/progress.js';
import { pullModel } from '../../store/pull.js';
import { formatBytes } from '../../format/numbers.js';
import { parsePositiveCount } from '../flagParsers.js';

/** The shared keep-alive agent opens at most this many connections per host. */
const MAX_CONNECTIONS = 32;

export function registerPullCommand(program: Command): void {
  program
    .command('pull')
    .description('download a model into the Hugging Face cache (resumable, verified, shared with llama.cpp)')
    .argument('<model>', 'alias (qwen3.5:9b, qwen3.5:9b-q8_0), hf:owner/repo[:quant], hf:owner/repo/file.gguf, or an https:// URL')
    .option('--force', 'download even when the disk or memory check says it will not fit')
    .option('-c, --ctx <tokens>', 'context length the memory check assumes', parsePositiveCount('-c/--ctx'), 8192)
    .option('--connections <n>', `parallel connections per file (1-${MAX_CONNECTIONS})`, parseConnections, 4)
    .option('--json', 'print one JSON event per line on stdout instead of progress')
    .addHelpText('after', () => {
      const config = storeConfig();
      return (
        '\nExamples:\n' +
        '  petrel pull qwen3.5:0.8b                          # an alias: its default quantization (Q4_K_M)\n' +
        '  petrel pull qwen3.5:9b-q8_0                       # a tag picks the quantization\n' +
        '  petrel pull hf:unsloth/Qwen3.5-4B-GGUF:Q5_K_M     # any Hugging Face GGUF repository\n' +
        '  petrel pull hf:owner/repo/sub/model-Q4_0.gguf     # one file (all parts of a split file)\n' +
        '  petrel pull https://example.com/model.gguf        # a plain URL\n' +
        '  petrel pull qwen3.5:27b -c 32768                  # check the memory at a 32K context first\n' +
        '  petrel pull qwen3.5:9b --json | jq -c \'select(.event == "progress") | .totalBytes\'\n' +
        '\nAn interrupted pull (Ctrl-C, a lost connection) resumes where it stopped when run again.\n' +
        '\nEnvironment:\n' +
        '  HF_TOKEN      token for gated repositories (else $HF_HOME/token, what "hf auth login" writes)\n' +
        `  HF_ENDPOINT   the hub or a mirror of it (now: ${config.endpoint})\n` +
        `  HF_HUB_CACHE  where models go (now: ${config.hubCache}), shared with huggingface_hub and\n` +
        '                llama.cpp; else $HF_HOME/hub, else ~/.cache/huggingface/hub\n' +
        '  HTTPS_PROXY, HTTP_PROXY, NO_PROXY are honoured.\n'
      );
    })
    .action(async (model: string, opts: { force?: boolean; ctx: number; connections: number; json?: boolean }) => {
      const kept = new KeptTracker(createReporter(opts.json ? 'json' : process.stderr.isTTY ? 'tty' : 'lines'));
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
        const result = await pullModel(model, { force: opts.force, context: opts.ctx, connections: opts.connections, signal: controller.signal, reporter: kept });
        if (!opts.json) process.stdout.write(result.path + '\n');
      } catch (err) {
        if (controller.signal.aborted) {
          kept.close();
          process.stderr.write(`petrel: ${kept.interruptedMessage(model)}\n`);
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        kept.close();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        await closeHttp();
      }
    });
}

function parseConnections(value: string): number {
  const n = parsePositiveCount('--connections')(value);
  if (n > MAX_CONNECTIONS) throw new InvalidArgumentError(`--connections must be at most ${MAX_CONNECTIONS}`);
  return n;
}

/** Passes events on and remembers what an interruption leaves on disk, so the message claims only that. */
class KeptTracker implements Reporter {
  private current?: { file: string; bytes: number; resumable: boolean };
  private finished = 0;

  constructor(private readonly inner: Reporter) {}

  emit(e: PullEvent): void {
    if (e.event === 'start') this.current = { file: e.file, bytes: e.resumedBytes, resumable: e.resumable };
    else if (e.event === 'progress' && this.current?.file === e.file) this.current.bytes = e.bytes;
    else if (e.event === 'done') {
      if (!e.cached) this.finished++;
      this.current = undefined;
    }
    this.inner.emit(e);
  }

  close(): void {
    this.inner.close();
  }

  interruptedMessage(model: string): string {
    const again = `run "petrel pull ${model}" again`;
    const c = this.current;
    const done = this.finished > 0 ? `${this.finished} finished file${this.finished === 1 ? ' is' : 's are'} kept; ` : '';
    if (c && c.bytes > 0 && c.resumable) return `interrupted; ${done}${formatBytes(c.bytes)} of ${c.file} is kept, ${again} to resume`;
    if (c && c.bytes > 0) return `interrupted; ${done}${c.file} was not kept (its server cannot resume a download), ${again} to start it over`;
    if (this.finished > 0) return `interrupted; ${done}${again} for the rest`;
    return 'interrupted before anything was downloaded';
  }
}
