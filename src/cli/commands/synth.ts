// `petrel synth <preset> <out.gguf>`: writes a random-weight Qwen3.5 GGUF with the real
// architecture, converter conventions and a working tokenizer, for tests and benchmarks.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { UserError } from '../../errors.js';
import { PRESETS, WEIGHT_TYPES, buildSynthModel, isWeightType, synthesize, writeRecipe, type WeightType } from '../../synth/index.js';
import { formatBytes, formatCount } from '../../format/numbers.js';

interface SynthCliOptions {
  layers?: number;
  type?: WeightType;
  seed: number;
  force?: boolean;
  recipe?: boolean;
}

export function registerSynthCommand(program: Command): void {
  program
    .command('synth')
    .description('write a synthetic (random-weight) Qwen3.5 model with the real architecture and tokenizer')
    .argument('<preset>', `one of: ${PRESETS.map((p) => p.name).join(', ')}`)
    .argument('<out>', 'the .gguf file to write')
    .option('--layers <n>', 'number of blocks, at least 2 (every 4th is attention; with 2 or 3 the last one is)', parseWholeNumber)
    .option('--type <type>', `type of the 2-D weights: ${WEIGHT_TYPES.join(', ')} (default: f32 for tiny presets, f16 otherwise)`, parseWeightType)
    .option('--seed <n>', 'random seed (0..4294967295)', parseSeed, 0)
    .option('--force', 'overwrite <out> if it exists')
    .option('--recipe', 'write only a small recipe (metadata, tensor list, seeds); the native petrel_synth tool makes the model from it where Node does not run')
    .addHelpText(
      'after',
      '\nPresets:\n' +
        PRESETS.map((p) => `  ${p.name.padEnd(10)} ${p.description}, ${p.nLayer} layers`).join('\n') +
        '\n\nThe weights are random: a synthetic model runs at the real speed and shapes, but its answers are gibberish.\n' +
        '\nExamples:\n' +
        '  petrel synth tiny tiny.gguf && petrel run tiny.gguf "hi"\n' +
        '  petrel synth 0.8b qwen3.5-0.8b-f16.gguf && petrel quantize qwen3.5-0.8b-f16.gguf q4_k_m.gguf q4_k_m\n' +
        '  petrel synth 35b-a3b moe-4l.gguf --layers 4 --type q8_0     # the MoE shape, 4 layers\n' +
        '  petrel synth 35b-a3b 35b.recipe.gguf --type bf16 --recipe  # a few MiB for petrel_synth elsewhere\n',
    )
    .action(async (preset: string, out: string, opts: SynthCliOptions) => {
      await runSynth(preset, out, opts);
    });
}

async function runSynth(preset: string, out: string, opts: SynthCliOptions): Promise<void> {
  if (existsSync(out) && !opts.force) throw new UserError(`${out} exists; pass --force to overwrite it`, 'ERR_USER_EXISTS');
  const dir = path.dirname(path.resolve(out));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such directory`, 'ERR_USER_NO_FILE');

  if (opts.recipe) {
    const model = buildSynthModel(preset, { layers: opts.layers, type: opts.type, seed: opts.seed });
    await writeRecipe(model, out);
    process.stdout.write(
      `wrote ${out}: the recipe of ${model.preset.name}, ${model.preset.nLayer} layers, ${model.weightType}, seed ${model.seed}, ` +
        `${model.tensors.length} tensors (${formatBytes(statSync(out).size)}; the model: ${formatBytes(model.dataBytes)} of tensor data)\n`,
    );
    return;
  }
  const progress = process.stderr.isTTY ? progressLine() : undefined;
  const started = performance.now();
  try {
    const r = await synthesize(preset, out, {
      layers: opts.layers,
      type: opts.type,
      seed: opts.seed,
      onProgress: progress?.update,
    });
    progress?.done();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `wrote ${r.path}: ${r.preset}, ${r.layers} layers, ${r.type}, seed ${r.seed}, ` +
        `${formatBytes(r.bytes)}, ${r.tensors} tensors, ${formatCount(r.params)} params (${seconds} s)\n`,
    );
  } catch (err) {
    progress?.done();
    throw err;
  }
}

/** A percentage on one stderr line, redrawn at most ten times a second. */
function progressLine(): { update: (written: number, total: number) => void; done: () => void } {
  let last = 0;
  let drawn = false;
  return {
    update(written, total) {
      const now = performance.now();
      if (now - last < 100 && written < total) return;
      last = now;
      drawn = true;
      const pct = total > 0 ? Math.floor((written / total) * 100) : 0;
      process.stderr.write(`\r\x1b[Kwriting ${pct}% (${formatBytes(written)} / ${formatBytes(total)})`);
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}

function parseWholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 0xffffffff) throw new InvalidArgumentError('expected a whole number in 0..4294967295');
  return n;
}

function parseWeightType(value: string): WeightType {
  const t = value.toLowerCase();
  if (!isWeightType(t)) throw new InvalidArgumentError(`expected one of ${WEIGHT_TYPES.join(', ')}`);
  return t;
}
