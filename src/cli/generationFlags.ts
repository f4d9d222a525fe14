// The flags run and chat share, defined once: the system prompt, thinking, answer length, context,
// threads, the device (--device, -ngl), --pull and sampling (Qwen3.5's defaults, src/generate/qwen35Sampling.ts). Each command
// passes the help that differs: what --show-thinking does there and chat's slash commands.
import type { Command } from 'commander';
import { QWEN35_SAMPLING, type SamplingOverrides } from '../generate/qwen35Sampling.js';
import { addDeviceOptions, type DeviceFlags } from './deviceFlags.js';
import { addPullOption, type PullPolicy } from './ensureModel.js';
import {
  hardwareThreads,
  parseCount,
  parseFraction,
  parseNonNegative,
  parseNumber,
  parsePositive,
  parsePositiveCount,
  parseSeed,
  parseThreads,
} from './flagParsers.js';

export interface GenerationFlags extends SamplingOverrides, DeviceFlags {
  system?: string;
  think?: boolean;
  showThinking?: boolean;
  maxTokens?: number;
  ctx?: number;
  threads?: number;
  pull?: PullPolicy;
}

export interface GenerationHelp {
  showThinking: string;
  /** Chat's commands that change a setting later, named in its flag's help. */
  slashCommands?: { system: string; think: string; noThink: string };
}

/** Why run and chat use more threads than bench; both commands' --help end with it. */
export const THREADS_HELP =
  'Threads: run and chat default to one per hardware thread (the engine\'s default); bench defaults\n' +
  "to one per physical core, as llama-bench does, so its tables compare with llama.cpp's.\n";

export function addGenerationOptions(cmd: Command, help: GenerationHelp): Command {
  const slash = help.slashCommands;
  cmd
    .option('--system <text>', `system prompt${slash ? ` (${slash.system})` : ''}`)
    .option('--think', `let the model reason before answering (default, as the Qwen3.5 template${slash ? `; ${slash.think}` : ''})`)
    .option('--no-think', `answer directly, without reasoning${slash ? ` (${slash.noThink})` : ''}`)
    .option('--show-thinking', help.showThinking)
    .option('-n, --max-tokens <n>', 'stop an answer after n tokens, reasoning included (default: until the context is full)', parsePositiveCount('-n/--max-tokens'))
    .option('-c, --ctx <n>', "context length in tokens (default: the model's; beyond it a warning, beyond 4× it refused)", parsePositiveCount('-c/--ctx'))
    .option('-t, --threads <n>', `CPU threads (default: one per hardware thread, here ${hardwareThreads()}; at most that many)`, parseThreads('-t/--threads'));
  addDeviceOptions(cmd);
  addPullOption(cmd);
  return addSamplingOptions(cmd);
}

function addSamplingOptions(cmd: Command): Command {
  const t = QWEN35_SAMPLING.thinking;
  const i = QWEN35_SAMPLING.instruct;
  return cmd
    .option('--temp <t>', `temperature, 0 = greedy (default ${t.temperature} thinking, ${i.temperature} otherwise)`, parseNonNegative('--temp'))
    .option('--top-k <k>', `keep the k most likely tokens, 0 = all (default ${t.topK})`, parseCount('--top-k'))
    .option('--top-p <p>', `nucleus sampling, 0..1, 1 = off (default ${t.topP} thinking, ${i.topP} otherwise)`, parseFraction('--top-p'))
    .option('--min-p <p>', `drop tokens below p × the top probability, 0..1, 0 = off (default ${t.minP})`, parseFraction('--min-p'))
    .option('--repeat-penalty <x>', `penalise recent tokens, > 0, 1 = off (default ${t.repeatPenalty})`, parsePositive('--repeat-penalty'))
    .option('--presence-penalty <x>', `penalise tokens already present, 0 = off (default ${t.presencePenalty})`, parseNumber('--presence-penalty'))
    .option('--seed <n>', 'random seed for reproducible sampling (default random; run --json reports the one used)', parseSeed('--seed'));
}
