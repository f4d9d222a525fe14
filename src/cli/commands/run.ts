// `petrel run <model> [prompt]`: one prompt, one answer, for scripts. stdout carries the answer
// and nothing else (or, with --json, one JSON object); reasoning, when shown, and errors go to
// stderr. Exit 0 on success, 1 on error, 130 when interrupted (Ctrl-C: during the prompt's
// prefill it takes effect within one micro-batch, during the answer before the next token).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { OutputEvent, ToolDefinition } from '../../templates/index.js';
import type { GenerateOnceResult } from '../generateOnce.js';
import { combinePrompt, readStdinIfPiped } from '../promptInput.js';
import { addSamplingOptions, parsePositiveCount, samplingFrom, type SamplingFlags } from '../samplingOptions.js';

interface RunFlags extends SamplingFlags {
  json?: boolean;
  raw?: boolean;
  system?: string;
  think?: boolean;
  showThinking?: boolean;
  maxTokens?: number;
  ctx?: number;
  threads?: number;
  tools?: string;
  ignoreEos?: boolean;
  routingTrace?: string;
}

export function registerRunCommand(program: Command): void {
  const cmd = program
    .command('run')
    .description('answer one prompt and exit: the prompt from the argument and/or stdin, the answer on stdout')
    .argument('<model>', 'a pulled model (alias like qwen3.5:0.8b, hf:owner/repo[:quant], URL) or a .gguf path')
    .argument('[prompt]', 'the prompt; piped stdin is read too (stdin first, then the argument)')
    .option('--json', 'print one JSON object (text, reasoning, tool calls, finish reason, token ids, timings) and nothing else')
    .option('--raw', 'no chat template: tokenize the prompt as written (special tokens included) and continue it')
    .option('--system <text>', 'system prompt')
    .option('--think', 'let the model reason before answering (default, as the Qwen3.5 template)')
    .option('--no-think', 'answer directly, without reasoning')
    .option('--show-thinking', 'stream the reasoning to stderr (it is hidden by default)')
    .option('--tools <file>', 'JSON file with an array of tool definitions (OpenAI format) to offer the model')
    .option('-n, --max-tokens <n>', 'stop after n generated tokens (default: until the context is full)', parsePositiveCount('--max-tokens'))
    .option('-c, --ctx <n>', "context length in tokens (default: the model's)", parsePositiveCount('--ctx'))
    .option('-t, --threads <n>', 'CPU threads (default: one per hardware thread)', parsePositiveCount('--threads'))
    .option('--ignore-eos', 'keep generating past end-of-generation tokens (benchmarks; stop with -n or Ctrl-C)')
    .option('--routing-trace <file>', 'MoE models: record which experts every step routes to (for petrel_offload_sim, docs/OFFLOAD.md)');
  addSamplingOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nSampling defaults follow the Qwen3.5 model card: thinking temp 1.0, top-p 0.95; --no-think temp 0.7, top-p 0.8;\n' +
      'both top-k 20, min-p 0, presence penalty 1.5, repeat penalty 1.0.\n\n' +
      'Examples:\n  petrel run model.gguf "Why is the sky blue?"\n  cat notes.txt | petrel run model.gguf --no-think "Summarize this."\n' +
      '  echo "hi" | petrel run model.gguf --json | jq .text\n',
  );
  cmd.action(async (model: string, prompt: string | undefined, flags: RunFlags) => {
    // Loaded here, not at startup: every other command (and --help) would pay for the engine.
    const { resolveLocalModel } = await import('../../store/local.js');
    process.exitCode = await runCommand(resolveLocalModel(model), prompt, flags);
  });
}

async function runCommand(modelPath: string, argPrompt: string | undefined, flags: RunFlags): Promise<number> {
  const raw = flags.raw ?? false;
  if (raw && (flags.system !== undefined || flags.tools !== undefined || flags.think !== undefined)) {
    throw new UserError('--raw uses no chat template, so --system, --tools and --think/--no-think do not apply', 'ERR_USER_ARGS');
  }
  const tools = flags.tools !== undefined ? readTools(flags.tools) : undefined;
  const prompt = combinePrompt(argPrompt, await readStdinIfPiped(), raw);
  if (prompt === '') throw new UserError('no prompt: pass one as an argument or pipe it on stdin', 'ERR_USER_NO_PROMPT');

  const thinking = flags.think ?? true;
  const out = new OutputSink(flags.json ?? false, flags.showThinking ?? false);
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // First Ctrl-C stops the prefill or the answer (what was generated is still printed); a second one exits now.
    if (++interrupts > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  // A closed pipe (`petrel run … | head -1`) ends generation quietly.
  const onPipeError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') abort.abort();
  };
  process.stdout.on('error', onPipeError);
  try {
    const { generateOnce } = await import('../generateOnce.js');
    const result = await generateOnce({
      modelPath,
      prompt,
      raw,
      thinking,
      sampling: samplingFrom(flags, thinking && !raw),
      signal: abort.signal,
      onEvent: (e) => out.event(e),
      ...(flags.system !== undefined ? { system: flags.system } : {}),
      ...(tools ? { tools } : {}),
      ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
      ...(flags.ctx !== undefined ? { contextLength: flags.ctx } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      ...(flags.ignoreEos ? { ignoreEos: true } : {}),
      ...(flags.routingTrace !== undefined ? { routingTrace: flags.routingTrace } : {}),
    });
    out.finish(result, modelPath);
    return interrupts > 0 ? 130 : 0;
  } finally {
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

/** Where run's output goes: the answer streamed to stdout, reasoning to stderr, or JSON at the end. */
class OutputSink {
  #wroteAnswer = false;
  #lastAnswerChar = '';
  #reasoningOpen = false;

  constructor(
    private readonly json: boolean,
    private readonly showThinking: boolean,
  ) {}

  event(e: OutputEvent): void {
    if (this.json) return;
    if (e.type === 'reasoning') {
      if (!this.showThinking) return;
      process.stderr.write(e.text);
      this.#reasoningOpen = true;
      return;
    }
    if (this.#reasoningOpen) {
      // Separate the reasoning from the answer when both go to the same terminal.
      process.stderr.write('\n\n');
      this.#reasoningOpen = false;
    }
    // A tool call is part of what the model answered; scripts wanting structure use --json.
    this.#answer(e.type === 'content' ? e.text : e.raw + '\n');
  }

  finish(result: GenerateOnceResult, modelPath: string): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(jsonReport(result, modelPath)) + '\n');
      return;
    }
    if (this.#reasoningOpen) process.stderr.write('\n');
    if (this.#wroteAnswer && this.#lastAnswerChar !== '\n') process.stdout.write('\n');
  }

  #answer(text: string): void {
    if (!text) return;
    process.stdout.write(text);
    this.#wroteAnswer = true;
    this.#lastAnswerChar = text[text.length - 1]!;
  }
}

function jsonReport(r: GenerateOnceResult, modelPath: string) {
  const perSecond = (n: number, ms: number) => (ms > 0 ? Math.round((n / ms) * 1000 * 100) / 100 : null);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    model: modelPath,
    text: r.text,
    reasoning: r.reasoning,
    toolCalls: r.toolCalls,
    finishReason: r.finishReason,
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
