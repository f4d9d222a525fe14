// One prompt in, one answer out (`petrel run`): tokenizer and model from a GGUF, the prompt rendered
// with the chat template (or raw), prefill, then one generated turn (generateTurn.ts, shared with
// `petrel chat`), and the model freed. The caller decides where text goes (run: stdout/stderr;
// tests: arrays). The signal stops the prefill between micro-batches as well as the generation:
// either way the result is 'aborted'.
import { AbortError, loadModel, type LoadModelOptions, type SamplingOptions } from '../engine/index.js';
import { UserError } from '../errors.js';
import { chatTemplateOrDefault, renderChat, type OutputEvent, type ToolCall, type ToolDefinition } from '../templates/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { eosTokenText, promptEndsInReasoning } from './chatPrompt.js';
import { checkContextLength } from './contextLength.js';
import { generateTurn, type FinishReason } from './generateTurn.js';

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
  /** Where the model runs (the engine's default, the CPU, when not given). */
  device?: LoadModelOptions['device'];
  /** llama.cpp's -ngl (LoadModelOptions.gpuLayers). */
  gpuLayers?: number;
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
    ...(req.device !== undefined ? { device: req.device } : {}),
    ...(req.gpuLayers !== undefined ? { gpuLayers: req.gpuLayers } : {}),
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
