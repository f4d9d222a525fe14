// `petrel bench [model...]`: llama-bench's measurements and output (pp512 / tg128 by default,
// mean ± sample stddev over -r repetitions, md/json/jsonl/csv), on petrel's engine; with
// `--vs llama.cpp` the same tests on llama.cpp in alternation, with the ratio. Without a model it
// benchmarks a cached synthetic Qwen3.5-0.8B-shaped Q4_K_M model, so it runs with no download.
import { Command } from 'commander';
import { EXTRA_COLUMNS, OUTPUT_FORMATS, expandLlamaBenchFlags, parseBenchFlags, type RawBenchFlags } from '../../bench/args.js';
import { benchCacheDir, ensureDefaultModel } from '../../bench/defaultModel.js';
import type { EngineName, OpenEngine } from '../../bench/engine.js';
import { defaultThreadCount } from '../../bench/machine.js';
import { describeModelFile } from '../../bench/modelDescription.js';
import { UserError } from '../../errors.js';
import { deviceFlagsProblem, gpuLayersOption, withLlamaSpellings } from '../deviceFlags.js';
import { hardwareThreads } from '../flagParsers.js';
import { groupContextLength, planTests } from '../../bench/testPlan.js';
import { DEFAULT_MODEL_NOTE, describeDefaultModelStep, describeProgress, progressSink, type ProgressSink } from '../../bench/progress.js';

interface BenchCliFlags extends RawBenchFlags {
  progress?: boolean;
}

/** Lets llama-bench's one-dash spellings (-pg, -ngl) through commander, which only knows one-letter short flags. */
class BenchCommand extends Command {
  override parseOptions(args: string[]) {
    return super.parseOptions(expandLlamaBenchFlags(withLlamaSpellings(args)));
  }
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function registerBenchCommand(program: Command): void {
  const cmd = new BenchCommand('bench')
    .description('measure prompt processing and generation speed, llama-bench compatible (pp512, tg128 by default)')
    .argument('[models...]', 'models to measure (path, alias or hf: reference); default: a synthetic Qwen3.5-0.8B-shaped Q4_K_M model')
    .option('-p, --n-prompt <n>', 'prompt sizes of the pp tests, comma list or range (default: 512; 0 skips)', collect)
    .option('-n, --n-gen <n>', 'token counts of the tg tests (default: 128; 0 skips)', collect)
    .option('--pg <pp,tg>', 'prompt then generation, throughput over both (also -pg, as llama-bench)', collect)
    .option('-d, --n-depth <n>', 'tokens already in the context before each test (default: 0)', collect)
    .option('-r, --repetitions <n>', 'timed runs per test (default: 5)')
    .option('-t, --threads <n>', `CPU threads, comma list (default: one per physical core, here ${defaultThreadCount()}, as llama-bench; run and chat use one per hardware thread)`, collect)
    .option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join(', ')} (default: md)`)
    .option('--extra [columns]', `extra columns: ${EXTRA_COLUMNS.join(', ')} (model load ms, time to first token ms, peak RSS); alone: all`)
    .option('--vs <engine>', 'also run llama.cpp (node-llama-cpp, CPU) on the same file, in alternation, and print the ratio')
    .option('--no-warmup', 'skip the untimed warm-up run before each test')
    .option('--progress', 'print a progress line per step on stderr even when it is not a terminal')
    .option('--seed <n>', 'seed of the random token ids (default: 0)')
    .option(
      '--device <name>',
      "where petrel runs the model: auto (a Vulkan GPU when one is found and the model fits its memory, else the CPU), cpu, vulkan " +
        '(default: auto; CUDA inference is not implemented yet); simulated, with --vram: MoE expert offload on the CPU, host memory ' +
        'and CPU kernels standing in for a GPU',
    )
    .addOption(
      gpuLayersOption(
        "layers on the GPU, as llama-bench's -ngl (one value, no list): all (the default when a GPU runs the model), 0 (none: " +
          'the CPU), or any number at least the layer count; a model runs wholly on one device, so a partial count is refused',
      ),
    )
    .option('--vram <GiB>', 'MoE expert offload within this device memory (with --device simulated); adds the expert-cache hit rate and MB uploaded per token')
    .addHelpText(
      'after',
      '\nTests are named as llama-bench names them: pp512 (one 512-token prompt), tg128 (128 single-token steps),\n' +
        'pp512+tg128 (-pg), "@ d4096" at a prefilled depth. t/s is tokens / time of each run, mean ± sample stddev.\n\n' +
        'The backend column says what ran petrel\'s model (CPU, Vulkan; CPU+sim with --device simulated), with an ngl\n' +
        'column when it is a GPU. --device and -ngl apply to petrel\'s rows only: llama.cpp (--vs) always runs on the CPU.\n\n' +
        `The default model is generated once into ${benchCacheDir()}.\n\n` +
        'Examples:\n  petrel bench\n  petrel bench model.gguf -p 128,512 -n 32 -t 1,2 -o json\n' +
        '  petrel bench model.gguf -d 0,16384 -r 3 --vs llama.cpp\n' +
        '  petrel bench model.gguf --device vulkan             # on the Vulkan GPU (an error when there is none)\n' +
        '  petrel bench model.gguf --device cpu --vs llama.cpp # both on the CPU\n' +
        '  petrel bench moe.gguf --vram 8 --device simulated   # expert offload counters (docs/OFFLOAD.md)\n',
    )
    .action(async (models: string[], flags: BenchCliFlags) => {
      await benchCommand(models, flags);
    });
  program.addCommand(cmd);
}

async function benchCommand(modelArgs: string[], flags: BenchCliFlags): Promise<void> {
  // Loaded here, not at startup: every other command (and --help) would pay for the engines.
  const [{ createPrinter }, { openLlamaPeer }, { openPetrel }, { runBench }, { resolveLocalModel }] = await Promise.all([
    import('../../bench/formats/index.js'),
    import('../../bench/llamaPeer.js'),
    import('../../bench/petrelEngine.js'),
    import('../../bench/runner.js'),
    import('../../store/local.js'),
  ]);
  const parsed = parseBenchFlags(flags, defaultThreadCount());
  const conflict = deviceFlagsProblem(flags.device?.trim().toLowerCase() ?? 'auto', flags.gpuLayers);
  if (conflict) throw new UserError(`bench: ${conflict}`, 'ERR_USER_ARGS');
  // As run does: more threads than hardware threads only wait on each other.
  const max = hardwareThreads();
  const tooMany = [...new Set(parsed.threads.filter((t) => t > max))];
  if (tooMany.length > 0) process.stderr.write(`petrel: warning: -t ${tooMany.join(',')}: more than the ${max} hardware threads here; using ${max}\n`);
  const options = { ...parsed, threads: [...new Set(parsed.threads.map((t) => Math.min(t, max)))] };
  const progress = progressSink(process.stderr, flags.progress ?? false);
  const paths = modelArgs.length > 0 ? modelArgs.map((m) => resolveLocalModel(m)) : [await defaultModel(options.threads[0]!, progress)];
  const models = paths.map(describeModelFile);

  const longestContext = Math.max(...planTests(options).map(groupContextLength));
  const engines: Array<{ name: EngineName; open: OpenEngine }> = [
    {
      name: 'petrel',
      open: (model, threads) =>
        openPetrel(model, threads, {
          device: options.device,
          ...(options.gpuLayers !== undefined ? { gpuLayers: options.gpuLayers } : {}),
          ...(options.offload ? { offload: options.offload, contextLength: longestContext } : {}),
        }),
    },
  ];
  if (options.vs === 'llama.cpp') engines.push({ name: 'llama.cpp', open: openLlamaPeer });

  const printer = createPrinter(options.output, {
    vs: options.vs !== undefined,
    extra: options.extra,
    offload: options.offload !== undefined,
  });
  const write = (text: string) => {
    if (text === '') return;
    progress.clear();
    process.stdout.write(text);
  };
  write(printer.header());
  try {
    await runBench({
      models,
      options,
      engines,
      onProgress: (p) => progress.show(describeProgress(p)),
      onTest: (results) => write(printer.test(results)),
    });
  } finally {
    progress.clear();
  }
  write(printer.footer());
}

async function defaultModel(threads: number, progress: ProgressSink): Promise<string> {
  let announced = false;
  const file = await ensureDefaultModel({
    threads,
    onProgress: (step) => {
      // Off a terminal, one line says why the first run takes minutes.
      if (!announced && !process.stderr.isTTY) process.stderr.write(`petrel bench: ${DEFAULT_MODEL_NOTE}\n`);
      announced = true;
      progress.show(describeDefaultModelStep(step));
    },
  });
  progress.clear();
  return file;
}
