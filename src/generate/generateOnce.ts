// One prompt in, one answer out: tokenizer and model from a GGUF, the prompt rendered with the
// chat template (or raw), prefill, then one generated turn (generateTurn, shared with `petrel chat`):
// sampled tokens streamed through the UTF-8-safe decoder and the output parser. The caller decides
// where text goes (run: stdout/stderr; chat: the terminal UI; tests: arrays). The signal stops the
// prefill between micro-batches as well as the generation: either way the result is 'aborted'.
import { AbortError, loadModel, type SamplingOptions, type Session } from '../engine/index.js';
import { UserError } from '../errors.js';
import { ChatOutputParser, chatTemplateOrDefault, renderChat, type OutputEvent, type ToolCall, type ToolDefinition } from '../templates/index.js';
import { Tokenizer } from '../tokenizer/index.js';

export interface GenerateOnceRequest {
  modelPath: string;
  prompt: string;
  /** No chat template: the prompt is tokenized as written (special tokens parsed), output is plain text. */
  raw: boolean;
  system?: string;
  /** enable_thinking for the template. */
  thinking: boolean;
  tools?: ToolDefinition[];
  /** Upper bound on generated tokens; default: until the context is full. */
  maxTokens?: number;
  contextLength?: number;
  threads?: number;
  /** Keep generating past end-of-generation tokens (llama.cpp's --ignore-eos). */
  ignoreEos?: boolean;
  /** Record the MoE routing of every step to this file (for petrel_offload_sim). */
  routingTrace?: string;
  sampling: SamplingOptions;
  signal?: AbortSignal;
  /** Streamed output: parsed events, or { type: 'content' } text only in raw mode. */
  onEvent?: (event: OutputEvent) => void;
  /** Every generated token, before its text is parsed (counts for a progress display). */
  onToken?: (token: number) => void;
  /** One-line warnings about the request (a context beyond the trained one). */
  onWarning?: (line: string) => void;
}

export type FinishReason = 'stop' | 'length' | 'context' | 'aborted';

export interface GenerateOnceResult {
  prompt: string;
  promptTokens: number[];
  generatedTokens: number[];
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  /** The output ended inside the model's reasoning (no </think> after the last <think>). */
  endedInReasoning: boolean;
  contextLength: number;
  timings: { loadMs: number; prefillMs: number; generateMs: number };
}

/** The template variable eos_token, as transformers passes it. */
export function eosTokenText(tokenizer: Tokenizer): string {
  const id = tokenizer.vocabulary.eosId;
  return id !== undefined ? (tokenizer.vocabulary.tokens[id] ?? '') : '';
}

/** Qwen3.5's generation prompt ends inside <think> when the template opened one and did not close it. */
export function promptEndsInReasoning(prompt: string): boolean {
  return /<think>\s*$/.test(prompt);
}

/** How far past its trained context a model may be run: Qwen's YaRN factor for Qwen3.5 is 4. */
export const CONTEXT_STRETCH_LIMIT = 4;

/**
 * Checks a requested context length against the model's trained one: beyond it (answers may
 * degrade) a warning, beyond CONTEXT_STRETCH_LIMIT × it a refusal naming the flag.
 */
export function checkContextLength(requested: number, trained: number, warn: (line: string) => void, flag = '-c/--ctx'): void {
  if (trained <= 0 || requested <= trained) return;
  const n = (v: number) => v.toLocaleString('en-US');
  const max = trained * CONTEXT_STRETCH_LIMIT;
  if (requested > max) {
    throw new UserError(
      `${flag} ${requested} is far beyond the ${n(trained)} tokens this model was trained for (at most ${n(max)}, ${CONTEXT_STRETCH_LIMIT}×, is allowed)`,
      'ERR_USER_ARGS',
    );
  }
  warn(`petrel: warning: ${flag} ${requested} is beyond the ${n(trained)} tokens this model was trained for; answers past that may degrade`);
}

export async function generateOnce(req: GenerateOnceRequest): Promise<GenerateOnceResult> {
  const t0 = performance.now();
  const tokenizer = Tokenizer.fromGgufFile(req.modelPath);
  const prompt = req.raw
    ? req.prompt
    : renderChat(chatTemplateOrDefault(tokenizer.vocabulary.chatTemplate), {
        messages: [...(req.system ? [{ role: 'system' as const, content: req.system }] : []), { role: 'user', content: req.prompt }],
        ...(req.tools ? { tools: req.tools } : {}),
        addGenerationPrompt: true,
        enableThinking: req.thinking,
        eosToken: eosTokenText(tokenizer),
      });
  const promptTokens = tokenizer.encode(prompt, { parseSpecial: true, addBos: true });
  if (promptTokens.length === 0) throw new UserError('the prompt is empty', 'ERR_USER_EMPTY_PROMPT');

  const model = await loadModel(req.modelPath, {
    ...(req.threads !== undefined ? { threads: req.threads } : {}),
    ...(req.contextLength !== undefined ? { contextLength: req.contextLength } : {}),
    ...(req.routingTrace !== undefined ? { routingTrace: req.routingTrace } : {}),
  });
  try {
    if (req.contextLength !== undefined) {
      checkContextLength(req.contextLength, model.info.contextLengthTrain, req.onWarning ?? ((l) => process.stderr.write(l + '\n')));
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  const session = model.createSession();
  try {
    const ctx = session.contextLength;
    if (promptTokens.length >= ctx) {
      throw new UserError(`the prompt is ${promptTokens.length} tokens, which does not fit the context of ${ctx} (raise --ctx)`, 'ERR_CONTEXT_LIMIT');
    }
    const t1 = performance.now();
    try {
      await session.prefill(promptTokens, req.signal ? { signal: req.signal } : {});
    } catch (err) {
      if (!(err instanceof AbortError)) throw err;
      const result = { prompt, promptTokens, contextLength: ctx, timings: { loadMs: t1 - t0, prefillMs: performance.now() - t1, generateMs: 0 } };
      return { ...result, generatedTokens: [], text: '', reasoning: '', toolCalls: [], finishReason: 'aborted', endedInReasoning: false };
    }
    const t2 = performance.now();
    const turn = await generateTurn({
      session,
      tokenizer,
      raw: req.raw,
      startInReasoning: !req.raw && promptEndsInReasoning(prompt),
      sampling: req.sampling,
      ...(req.tools ? { tools: req.tools } : {}),
      ...(req.maxTokens !== undefined ? { maxTokens: req.maxTokens } : {}),
      ...(req.ignoreEos ? { ignoreEos: true } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.onEvent ? { onEvent: req.onEvent } : {}),
      ...(req.onToken ? { onToken: req.onToken } : {}),
    });
    return {
      prompt,
      promptTokens,
      generatedTokens: turn.generatedTokens,
      text: turn.text,
      reasoning: turn.reasoning,
      toolCalls: turn.toolCalls,
      finishReason: turn.finishReason,
      endedInReasoning: turn.endedInReasoning,
      contextLength: ctx,
      timings: { loadMs: t1 - t0, prefillMs: t2 - t1, generateMs: turn.generateMs },
    };
  } finally {
    const traceError = req.routingTrace !== undefined ? model.offloadStats().traceError : '';
    if (traceError !== '') process.stderr.write(`petrel: the routing trace stopped early: ${traceError}\n`);
    session.dispose();
    model.dispose();
  }
}

export interface TurnRequest {
  /** A session whose prompt is already prefilled; the answer is appended to it. */
  session: Session;
  tokenizer: Tokenizer;
  /** Plain text out (no output parser). */
  raw: boolean;
  /** The prompt ended inside <think> (see promptEndsInReasoning). */
  startInReasoning: boolean;
  tools?: ToolDefinition[];
  /** Upper bound on generated tokens; default (and at most): the room left in the context. */
  maxTokens?: number;
  ignoreEos?: boolean;
  sampling: SamplingOptions;
  signal?: AbortSignal;
  onEvent?: (event: OutputEvent) => void;
  onToken?: (token: number) => void;
}

export interface TurnResult {
  /** Tokens sampled and evaluated (the end-of-generation token that stopped it is not among them). */
  generatedTokens: number[];
  text: string;
  reasoning: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  /** The output ended inside the model's reasoning: whatever it meant to answer never came. */
  endedInReasoning: boolean;
  generateMs: number;
}

/** Generates one answer after what the session holds, streaming parsed events. */
export async function generateTurn(req: TurnRequest): Promise<TurnResult> {
  const { session, tokenizer } = req;
  const t0 = performance.now();
  const room = session.contextLength - session.position;
  const maxTokens = Math.min(req.maxTokens ?? room, room);
  const parser = new ChatOutputParser({ startInReasoning: req.startInReasoning, ...(req.tools ? { tools: req.tools } : {}) });
  const decoder = tokenizer.streamDecoder();
  let rawText = '';
  // The decoded output, for one question the parser does not answer: did it end inside <think>?
  let decoded = '';
  const emit = (text: string, final: boolean) => {
    decoded += text;
    if (req.raw) {
      rawText += text;
      if (text) req.onEvent?.({ type: 'content', text });
      return;
    }
    const events = parser.push(text);
    if (final) events.push(...parser.finish());
    for (const e of events) req.onEvent?.(e);
  };

  const generated: number[] = [];
  const stopTokens = req.ignoreEos ? [] : tokenizer.eogIds;
  const stream = session.generate({ maxTokens, sampling: req.sampling, stopTokens, ...(req.signal ? { signal: req.signal } : {}) });
  for await (const token of stream) {
    generated.push(token);
    req.onToken?.(token);
    emit(decoder.push(token), false);
  }
  emit(decoder.flush(), true);
  // generate() returns early on a stop token, on abort, or after maxTokens.
  const finishReason: FinishReason = req.signal?.aborted
    ? 'aborted'
    : generated.length < maxTokens
      ? 'stop'
      : maxTokens === room && (req.maxTokens === undefined || req.maxTokens >= room)
        ? 'context'
        : 'length';
  const open = decoded.lastIndexOf('<think>');
  const close = decoded.lastIndexOf('</think>');
  const endedInReasoning = !req.raw && (req.startInReasoning ? close < 0 || open > close : open > close);
  return {
    generatedTokens: generated,
    endedInReasoning,
    text: req.raw ? rawText : parser.result.content,
    reasoning: req.raw ? '' : parser.result.reasoning,
    toolCalls: req.raw ? [] : parser.result.toolCalls,
    finishReason,
    generateMs: performance.now() - t0,
  };
}
