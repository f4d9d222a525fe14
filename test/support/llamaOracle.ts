// llama.cpp as a correctness oracle: node-llama-cpp's prebuilt CPU build loads the same GGUF file
// and gives its raw logits for every position of a token sequence.
// Precision settings follow docs/MODEL.md#matching-llamacpp: F32 KV cache and flash attention off
// reproduce the model's math at float32 round-off; llama.cpp's defaults (F16 KV, FA on) add ~1e-4.
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';

let llamaPromise: Promise<Llama> | undefined;

/** The prebuilt CPU llama.cpp; never compiles (a test must not take minutes to build llama.cpp). */
export function cpuLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  return llamaPromise;
}

export interface OracleOptions {
  /** 'f32' (default) for float32-exact comparisons, 'f16' for llama.cpp's default cache. */
  kvCache?: 'f32' | 'f16';
  /** Default false; 'auto' is node-llama-cpp's default (llama.cpp turns it on where supported). */
  flashAttention?: boolean | 'auto';
  threads?: number;
}

export interface LlamaOracle {
  model: LlamaModel;
  nVocab: number;
  /** Raw logits after each token of `tokens` (one Float32Array of nVocab per position). */
  logits(tokens: number[]): Promise<Float32Array[]>;
  /**
   * Greedy continuation of `prompt` for n tokens, with llama.cpp's top-two log-probability gap at
   * each step (a first difference with another engine is acceptable only where the gap is tiny).
   */
  greedy(prompt: number[], n: number): Promise<{ tokens: number[]; gaps: number[] }>;
  dispose(): Promise<void>;
}

export async function openOracle(modelPath: string, options: OracleOptions = {}): Promise<LlamaOracle> {
  const llama = await cpuLlama();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0, ignoreMemorySafetyChecks: true });
  // node-llama-cpp exposes no vocabulary size; the embedded token list (as llama.cpp parsed it) gives it.
  const tokenList = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown[] } } }).tokenizer?.ggml?.tokens;
  if (!tokenList) throw new Error(`${modelPath}: llama.cpp found no tokenizer.ggml.tokens`);
  const nVocab = tokenList.length;
  const kv = options.kvCache ?? 'f32';

  async function withSequence<T>(n: number, fn: (seq: Awaited<ReturnType<typeof newSequence>>) => Promise<T>): Promise<T> {
    const context = await model.createContext({
      contextSize: Math.max(256, n + 16),
      batchSize: Math.max(256, n + 16),
      sequences: 1,
      flashAttention: options.flashAttention ?? false,
      threads: options.threads ?? 2,
      experimentalKvCacheKeyType: kv === 'f32' ? 'F32' : 'F16',
      experimentalKvCacheValueType: kv === 'f32' ? 'F32' : 'F16',
      ignoreMemorySafetyChecks: true,
    } as never);
    try {
      return await fn(context.getSequence());
    } finally {
      await context.dispose();
    }
  }
  type Sequence = ReturnType<Awaited<ReturnType<LlamaModel['createContext']>>['getSequence']>;
  const newSequence = (s: Sequence) => s;

  const toDense = (map: Map<number, number> | undefined): Float32Array => {
    if (!map) throw new Error('llama.cpp returned no logits');
    const out = new Float32Array(nVocab);
    for (const [token, value] of map) out[token] = value;
    return out;
  };

  return {
    model,
    nVocab,
    async logits(tokens) {
      return withSequence(tokens.length, async (seq) => {
        const results = await seq.controlledEvaluate(
          tokens.map((t) => [t, { generateNext: { logits: true } }] as [number, { generateNext: { logits: true } }]),
        );
        return results.map((r) => toDense(r?.next.logits as Map<number, number> | undefined));
      });
    },
    async greedy(prompt, n) {
      return withSequence(prompt.length + n, async (seq) => {
        const tokens: number[] = [];
        const gaps: number[] = [];
        let input: Array<number | [number, { generateNext: { logits: true } }]> = prompt.map((t, i) =>
          i === prompt.length - 1 ? ([t, { generateNext: { logits: true } }] as [number, { generateNext: { logits: true } }]) : t,
        );
        for (let step = 0; step < n; step++) {
          const results = await seq.controlledEvaluate(input);
          const logits = toDense(results[results.length - 1]?.next.logits as Map<number, number> | undefined);
          const [best, second] = topTwo(logits);
          const lse = logSumExp(logits);
          gaps.push(logits[best]! - lse - (logits[second]! - lse));
          tokens.push(best);
          input = [[best, { generateNext: { logits: true } }]];
        }
        return { tokens, gaps };
      });
    },
    async dispose() {
      await model.dispose();
    },
  };
}

export function topTwo(x: Float32Array): [number, number] {
  let best = 0;
  let second = -1;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > x[best]!) {
      second = best;
      best = i;
    } else if (second < 0 || x[i]! > x[second]!) {
      second = i;
    }
  }
  return [best, second < 0 ? best : second];
}

export function logSumExp(x: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]!);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i]! - max);
  return max + Math.log(sum);
}

/** log-softmax in float64. */
export function logSoftmax(x: ArrayLike<number>): Float64Array {
  const lse = logSumExp(x);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - lse;
  return out;
}

/** KL(p || q) for log-probability vectors. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]!);
    if (p > 0) kl += p * (logP[i]! - logQ[i]!);
  }
  return kl;
}
