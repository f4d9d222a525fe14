// One prompt in, one answer out: tokenizer and model from a GGUF, the prompt rendered with the
// chat template (or raw), prefill, then sampled tokens streamed through the UTF-8-safe decoder and
// the output parser. The caller decides where text goes (run: stdout/stderr; tests: arrays).
import { loadModel, type SamplingOptions } from '../engine/index.js';
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
  sampling: SamplingOptions;
  signal?: AbortSignal;
  /** Streamed output: parsed events, or { type: 'content' } text only in raw mode. */
  onEvent?: (event: OutputEvent) => void;
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
  contextLength: number;
  timings: { loadMs: number; prefillMs: number; generateMs: number };
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
        eosToken: tokenizer.vocabulary.eosId !== undefined ? tokenizer.vocabulary.tokens[tokenizer.vocabulary.eosId] : '',
      });
  const promptTokens = tokenizer.encode(prompt, { parseSpecial: true, addBos: true });
  if (promptTokens.length === 0) throw new UserError('the prompt is empty', 'ERR_USER_EMPTY_PROMPT');

  const model = await loadModel(req.modelPath, {
    ...(req.threads !== undefined ? { threads: req.threads } : {}),
    ...(req.contextLength !== undefined ? { contextLength: req.contextLength } : {}),
  });
  const session = model.createSession();
  try {
    const ctx = session.contextLength;
    if (promptTokens.length >= ctx) {
      throw new UserError(`the prompt is ${promptTokens.length} tokens, which does not fit the context of ${ctx} (raise --ctx)`, 'ERR_CONTEXT_LIMIT');
    }
    const t1 = performance.now();
    await session.prefill(promptTokens);
    const t2 = performance.now();

    const room = ctx - promptTokens.length;
    const maxTokens = Math.min(req.maxTokens ?? room, room);
    // The prompt ends inside <think> when the template opened one and did not close it.
    const startInReasoning = !req.raw && /<think>\s*$/.test(prompt);
    const parser = new ChatOutputParser({ startInReasoning, ...(req.tools ? { tools: req.tools } : {}) });
    const decoder = tokenizer.streamDecoder();
    let rawText = '';
    const emit = (text: string, final: boolean) => {
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
    let stopped = false;
    const stopTokens = req.ignoreEos ? [] : tokenizer.eogIds;
    const stream = session.generate({ maxTokens, sampling: req.sampling, stopTokens, ...(req.signal ? { signal: req.signal } : {}) });
    for await (const token of stream) {
      generated.push(token);
      emit(decoder.push(token), false);
    }
    emit(decoder.flush(), true);
    const t3 = performance.now();
    // generate() returns early on a stop token, on abort, or after maxTokens.
    if (req.signal?.aborted) stopped = true;
    const finishReason: FinishReason = stopped
      ? 'aborted'
      : generated.length < maxTokens
        ? 'stop'
        : maxTokens === room && (req.maxTokens === undefined || req.maxTokens >= room)
          ? 'context'
          : 'length';
    return {
      prompt,
      promptTokens,
      generatedTokens: generated,
      text: req.raw ? rawText : parser.result.content,
      reasoning: req.raw ? '' : parser.result.reasoning,
      toolCalls: req.raw ? [] : parser.result.toolCalls,
      finishReason,
      contextLength: ctx,
      timings: { loadMs: t1 - t0, prefillMs: t2 - t1, generateMs: t3 - t2 },
    };
  } finally {
    session.dispose();
    model.dispose();
  }
}
