// `petrel quantize <in.gguf|hf-folder> <out.gguf> <type>`: convert_hf_to_gguf.py + llama-quantize in
// one command, with llama.cpp's per-tensor type choices, an optional importance matrix, progress
// with ETA and a summary.
import { InvalidArgumentError, type Command } from 'commander';
import { formatSummary, quantTypes, quantizeGguf } from '../../quantize/index.js';
import { progressLine } from '../../quantize/progress.js';

interface QuantizeCliOptions {
  threads?: number;
  imatrix?: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description('convert a Hugging Face checkpoint and/or quantize a GGUF the way llama.cpp does')
    .argument('<input>', 'a .gguf file (the first part of a split model is enough) or a Hugging Face model folder')
    .argument('<output>', 'the .gguf file to write')
    .argument('<type>', 'q4_k_m, q8_0, …, or f32/f16/bf16 for a plain conversion (see below)')
    .option('-t, --threads <n>', 'worker threads (default: all cores)', parseThreads)
    .option('--imatrix <file>', "llama.cpp importance matrix (llama-imatrix's GGUF or legacy .dat)")
    .option('--force', 'overwrite <output> if it exists')
    .option('--dry-run', 'show the tensor types and the output size, write nothing')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      () =>
        '\nTypes:\n' +
        quantTypes()
          .map((t) => `  ${t.name.padEnd(8)} ${t.description}`)
          .join('\n') +
        '\n\nExamples:\n' +
        '  petrel quantize ./Qwen3.5-9B qwen3.5-9b-q4_k_m.gguf q4_k_m      # a Hugging Face folder: convert + quantize\n' +
        '  petrel quantize model-f16.gguf model-q8_0.gguf q8_0\n' +
        '  petrel quantize model-f16.gguf model-iq4_xs.gguf iq4_xs --imatrix imatrix.gguf\n' +
        '  petrel quantize model-f16.gguf out.gguf q4_k_m --dry-run        # the type of every tensor, no file\n',
    )
    .action(async (input: string, output: string, type: string, opts: QuantizeCliOptions) => {
      await runQuantize(input, output, type, opts);
    });
}

async function runQuantize(input: string, output: string, type: string, opts: QuantizeCliOptions): Promise<void> {
  const progress = process.stderr.isTTY && !opts.dryRun ? progressLine() : undefined;
  try {
    const summary = await quantizeGguf({
      input,
      output,
      type,
      threads: opts.threads,
      imatrix: opts.imatrix,
      force: opts.force,
      dryRun: opts.dryRun,
      onProgress: progress?.update,
    });
    progress?.done();
    if (opts.json) {
      process.stdout.write(JSON.stringify(summary) + '\n');
    } else if (opts.dryRun) {
      for (const t of summary.tensors) {
        process.stdout.write(`${t.name.padEnd(40)} [${t.shape.join(', ')}] ${t.fromName} -> ${t.toName}${t.fallback ? ' (fallback)' : ''}\n`);
      }
      process.stdout.write(`output would be ${summary.outputFileBytes} bytes, ${summary.bitsPerWeight.toFixed(2)} bpw\n`);
    } else {
      process.stdout.write(formatSummary(summary));
    }
  } catch (err) {
    progress?.done();
    throw err;
  }
}

function parseThreads(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1024) throw new InvalidArgumentError('expected a whole number from 1 to 1024');
  return n;
}
