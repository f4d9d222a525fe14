// One answer after what a session holds, shared by `petrel run` (generateOnce.ts) and `petrel chat`
// (src/chat/Chat.ts): sampled tokens streamed through the UTF-8-safe decoder and the output parser,
// and why the answer ended.
import type { SamplingOptions, Session } from '../engine/index.js';
import { ChatOutputParser, type OutputEvent, type ToolCall, type ToolDefinition } from '../templates/index.js';
import type { Tokenizer } from '../tokenizer/index.js';

export type FinishReason = 'stop' | 'length' | 'context' | 'aborted';

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
