// `petrel run <model> [prompt...]`: one prompt, one answer, for scripts. stdout carries the answer
// and nothing else (or, with --json, one JSON object); reasoning, when shown, notes on a cut-short
// answer, progress and errors go to stderr. Exit 0 on success, 1 on error, 130 when interrupted (Ctrl-C: during the prompt's
// prefill it takes effect within one micro-batch, during the answer before the next token).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { SamplingOptions } from '../../engine/index.js';
import type { GenerateOnceResult } from '../../generate/generateOnce.js';
import { resolvedSamplingFrom } from '../../generate/qwen35Sampling.js';
import type { ToolDefinition } from '../../templates/index.js';
import { checkDeviceFlags, DeviceCommand, deviceLoadOptions } from '../deviceFlags.js';
import { hardwareThreads } from '../flagParsers.js';
import { addGenerationOptions, THREADS_HELP, type GenerationFlags } from '../generationFlags.js';
import { combinePrompt, readPromptFile, readStdinIfPiped } from '../promptInput.js';
import { OutputSink } from '../runOutput.js';
import { onOutputClosed } from '../stdio.js';

interface RunFlags extends GenerationFlags {
  file?: string;
  json?: boolean;
  raw?: boolean;
  tools?: string;
  ignoreEos?: boolean;
  routingTrace?: string;
}

/** Flags that only make sense for one answer: with any of them and no prompt, run does not open the chat. */
const ONE_SHOT_FLAGS: Array<keyof RunFlags> = ['file', 'json', 'raw', 'tools', 'ignoreEos', 'routingTrace'];

export function registerRunCommand(program: Command): void {
  const cmd = new DeviceCommand('run');
  program.addCommand(cmd);
  cmd
    .description('answer one prompt and exit: the answer on stdout (no prompt on a terminal: opens the chat)')
    .argument('<model>', 'a model alias (qwen3.5:0.8b), hf:owner/repo[:quant], URL, or a .gguf path')
    .argument('[prompt...]', 'the prompt; several words need no quotes (petrel run m why is the sky blue)')
    .option('-f, --file <file>', 'read the prompt from a file, - for stdin (before the prompt argument, if both are given)')
    .option('--json', 'print one JSON object (text, reasoning, tool calls, finish reason, seed and sampling, token ids, timings) and nothing else')
    .option('--raw', 'no chat template: tokenize the prompt as written (special tokens included) and continue it')
    .option('--tools <file>', 'JSON file with an array of tool definitions (OpenAI format) to offer the model')
    .option('--ignore-eos', 'keep generating past end-of-generation tokens (benchmarks; stop with -n or Ctrl-C)')
    .option('--routing-trace <file>', 'MoE models: record which experts every step routes to (for petrel_offload_sim, docs/OFFLOAD.md)');
  addGenerationOptions(cmd, { showThinking: 'stream the reasoning to stderr (hidden by default; on a terminal a spinner counts its tokens)' });
  cmd.addHelpText(
    'after',
    '\nWhere the prompt comes from: the prompt argument; else -f FILE; else stdin when it is piped. With a prompt\n' +
      'argument stdin is left alone (a script looping over `while read q` keeps its input); -f - reads it too:\n' +
      'then the file (or stdin) comes first and the argument after it, a blank line between.\n' +
      'With no prompt on a terminal, run opens `petrel chat` with the same model and flags.\n\n' +
      'When the answer is cut short (the context filled up, or -n ran out before any answer text, often while\n' +
      'the model was still reasoning) one line on stderr says why; --json gives it as finishReason and endedInReasoning.\n\n' +
      THREADS_HELP +
      '\nSampling defaults follow the Qwen3.5 model card: thinking temp 1.0, top-p 0.95; --no-think temp 0.7, top-p 0.8;\n' +
      'both top-k 20, min-p 0, presence penalty 1.5, repeat penalty 1.0. Without --seed the seed is random (--json reports it).\n\n' +
      'Exit status: 0 answered (also when cut short, with the line on stderr), 1 error, 130 interrupted (Ctrl-C).\n\n' +
      'Examples:\n' +
      '  petrel run model.gguf "Why is the sky blue?"\n' +
      '  petrel run model.gguf why is the sky blue\n' +
      '  petrel run qwen3.5:0.8b --pull missing "hi"        # download the model first if needed\n' +
      '  cat notes.txt | petrel run model.gguf --no-think -f - "Summarize this."\n' +
      '  petrel run model.gguf -f question.txt --json | jq .text\n' +
      '  while read -r q; do petrel run model.gguf "$q"; done < questions.txt\n',
  );
  cmd.action(async (model: string, words: string[], flags: RunFlags) => {
    checkDeviceFlags(flags);
    const argPrompt = words.length > 0 ? words.join(' ') : undefined;
    if (argPrompt === undefined && flags.file === undefined && process.stdin.isTTY) {
      const oneShot = ONE_SHOT_FLAGS.filter((f) => flags[f] !== undefined);
      const { isInteractive } = await import('./chat.js');
      if (isInteractive() && oneShot.length === 0) {
        await openChat(cmd, model, flags);
        return;
      }
      throw new UserError('no prompt: pass one as an argument, with -f FILE, or pipe it on stdin', 'ERR_USER_NO_PROMPT');
    }
    const { ensureModel } = await import('../ensureModel.js');
    const modelPath = await ensureModel(model, { ...(flags.pull ? { pull: flags.pull } : {}), ...(flags.ctx !== undefined ? { context: flags.ctx } : {}) });
    process.exitCode = await runCommand(modelPath, argPrompt, flags);
  });
}

/** `petrel run <model>` with no prompt on a terminal: the chat, given the flags both commands know. */
async function openChat(run: Command, model: string, flags: RunFlags): Promise<void> {
  const chat = run.parent?.commands.find((c) => c.name() === 'chat');
  if (!chat) throw new UserError('no prompt: pass one as an argument', 'ERR_USER_NO_PROMPT');
  // chat asks about (or pulls) a model that is not downloaded itself, by the same rules (--pull).
  await chat.parseAsync([model, ...argsFor(chat, flags)], { from: 'user' });
}

/**
 * The arguments that give `target` the values `flags` holds for the options it defines, so that
 * run hands chat every flag they share without listing them again.
 */
function argsFor(target: Command, flags: object): string[] {
  const values = flags as Record<string, unknown>;
  const args: string[] = [];
  for (const option of target.options) {
    const value = values[option.attributeName()];
    if (value === undefined || !option.long) continue;
    if (option.negate) {
      if (value === false) args.push(option.long);
    } else if (option.required || option.optional) {
      args.push(option.long, String(value));
    } else if (value === true) {
      args.push(option.long);
    }
  }
  return args;
}

async function runCommand(modelPath: string, argPrompt: string | undefined, flags: RunFlags): Promise<number> {
  const raw = flags.raw ?? false;
  if (raw && (flags.system !== undefined || flags.tools !== undefined || flags.think !== undefined)) {
    throw new UserError('--raw uses no chat template, so --system, --tools and --think/--no-think do not apply', 'ERR_USER_ARGS');
  }
  const tools = flags.tools !== undefined ? readTools(flags.tools) : undefined;
  // A prompt argument leaves stdin alone unless -f - asks for it.
  const before =
    flags.file !== undefined ? await readPromptFile(flags.file) : argPrompt === undefined ? await readStdinIfPiped() : undefined;
  const prompt = combinePrompt(argPrompt, before, raw);
  if (prompt === '') {
    throw new UserError(
      flags.file !== undefined ? `no prompt: ${flags.file === '-' ? 'stdin' : flags.file} is empty` : 'no prompt: pass one as an argument, with -f FILE, or pipe it on stdin',
      'ERR_USER_NO_PROMPT',
    );
  }

  const thinking = raw ? false : (flags.think ?? true);
  const sampling = resolvedSamplingFrom(flags, thinking);
  const threads = flags.threads ?? hardwareThreads();
  const out = new OutputSink(
    { json: flags.json ?? false, showThinking: flags.showThinking ?? false, ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}) },
    { stdout: process.stdout, stderr: process.stderr, stderrIsTTY: Boolean(process.stderr.isTTY), color: !('NO_COLOR' in process.env) },
  );
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // First Ctrl-C stops the prefill or the answer (what was generated is still printed); a second one exits now.
    if (++interrupts > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  // A closed pipe (`petrel run … | head -1`) ends generation quietly.
  const stopOnClose = onOutputClosed(() => abort.abort());
  let result: GenerateOnceResult | undefined;
  try {
    const { generateOnce } = await import('../../generate/generateOnce.js');
    out.start();
    result = await generateOnce({
      modelPath,
      prompt,
      raw,
      thinking,
      sampling,
      signal: abort.signal,
      onEvent: (e) => out.event(e),
      onToken: () => out.token(),
      onWarning: (line) => {
        out.abandon();
        process.stderr.write(line + '\n');
        out.start();
      },
      ...(flags.system !== undefined ? { system: flags.system } : {}),
      ...(tools ? { tools } : {}),
      ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
      ...(flags.ctx !== undefined ? { contextLength: flags.ctx } : {}),
      threads,
      ...deviceLoadOptions(flags),
      ...(flags.ignoreEos ? { ignoreEos: true } : {}),
      ...(flags.routingTrace !== undefined ? { routingTrace: flags.routingTrace } : {}),
    });
    const done = result;
    out.finish(done, () => jsonReport(done, modelPath, { ...sampling, thinking, threads, maxTokens: flags.maxTokens ?? null }));
    return interrupts > 0 ? 130 : 0;
  } finally {
    if (!result) out.abandon();
    stopOnClose();
    process.off('SIGINT', onSigint);
  }
}

function readTools(file: string): ToolDefinition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`--tools ${file}: ${(err as Error).message}`, 'ERR_USER_ARGS');
  }
  const ok = (t: unknown) => typeof (t as ToolDefinition)?.function?.name === 'string';
  if (!Array.isArray(parsed) || !parsed.every(ok)) {
    throw new UserError(`--tools ${file}: expected a JSON array of {"type": "function", "function": {"name": …}}`, 'ERR_USER_ARGS');
  }
  return parsed as ToolDefinition[];
}

/** What --json reports of the settings: the sampling actually used (with its seed) and the rest. */
type RunSettings = SamplingOptions & { seed: number; thinking: boolean; threads: number; maxTokens: number | null };

function jsonReport(r: GenerateOnceResult, modelPath: string, settings: RunSettings) {
  const perSecond = (n: number, ms: number) => (ms > 0 ? Math.round((n / ms) * 1000 * 100) / 100 : null);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    model: modelPath,
    text: r.text,
    reasoning: r.reasoning,
    toolCalls: r.toolCalls,
    finishReason: r.finishReason,
    endedInReasoning: r.endedInReasoning,
    // Everything needed to reproduce the run: pass it back as --seed and the sampling flags.
    seed: settings.seed,
    sampling: {
      temperature: settings.temperature,
      topK: settings.topK,
      topP: settings.topP,
      minP: settings.minP,
      repeatPenalty: settings.repeatPenalty,
      presencePenalty: settings.presencePenalty,
    },
    thinking: settings.thinking,
    threads: settings.threads,
    maxTokens: settings.maxTokens,
    prompt: r.prompt,
    promptTokens: r.promptTokens,
    generatedTokens: r.generatedTokens,
    usage: { promptTokens: r.promptTokens.length, generatedTokens: r.generatedTokens.length, contextLength: r.contextLength },
    timings: {
      loadMs: round(r.timings.loadMs),
      prefillMs: round(r.timings.prefillMs),
      generateMs: round(r.timings.generateMs),
      prefillTokensPerSecond: perSecond(r.promptTokens.length, r.timings.prefillMs),
      generateTokensPerSecond: perSecond(r.generatedTokens.length, r.timings.generateMs),
    },
  };
}
