// llama.cpp behind the bench interface, through node-llama-cpp's prebuilt CPU build (a dev
// dependency, imported only for --vs). Settings follow llama-bench's defaults where
// node-llama-cpp lets us: F16 KV cache, flash attention as llama.cpp's "auto" picks it, a
// 512-token micro-batch (node-llama-cpp ties n_ubatch to batchSize, so batchSize is llama-bench's
// n_ubatch: pp512 is one llama_decode). pp and tg ask for the last token's logits only, and the one
// token node-llama-cpp then samples is a greedy argmax (a few microseconds, charged to llama.cpp).
import { UserError } from '../errors.js';
import type { BenchEngine, BenchSequence } from './engine.js';
import type { ModelDescription } from './modelDescription.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
type LlamaModel = Awaited<ReturnType<Llama['loadModel']>>;
type LlamaContext = Awaited<ReturnType<LlamaModel['createContext']>>;
type LlamaSequence = ReturnType<LlamaContext['getSequence']>;
type EvaluateItem = Parameters<LlamaSequence['controlledEvaluate']>[0][number];

export const LLAMA_N_UBATCH = 512;

let llamaPromise: Promise<Llama> | undefined;

async function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  try {
    return await import('node-llama-cpp');
  } catch {
    throw new UserError('--vs llama.cpp needs node-llama-cpp; install it with "npm install node-llama-cpp@3.22.1"', 'ERR_USER_NO_PEER');
  }
}

/** The prebuilt CPU llama.cpp; never compiles. maxThreads 0 makes a context use exactly its thread count. */
function cpuLlama(): Promise<Llama> {
  llamaPromise ??= importNodeLlamaCpp().then((m) =>
    m.getLlama({ gpu: false, build: 'never', logLevel: m.LlamaLogLevel.error, progressLogs: false, maxThreads: 0 }),
  );
  return llamaPromise;
}

export async function openLlamaPeer(model: ModelDescription, threads: number): Promise<BenchEngine> {
  const modelPath = model.filename;
  const llama = await cpuLlama();
  const started = process.hrtime.bigint();
  const loaded = await llama.loadModel({ modelPath, gpuLayers: 0, ignoreMemorySafetyChecks: true });
  const loadNs = Number(process.hrtime.bigint() - started);
  const release = llama.llamaCppRelease.release;
  return {
    facts: {
      engine: 'llama.cpp',
      buildCommit: release,
      buildNumber: /^b(\d+)$/.test(release) ? Number(release.slice(1)) : 0,
      modelType: String(loaded.typeDescription || model.type),
      modelSize: loaded.size || model.sizeBytes,
      kvType: 'f16',
      nBatch: LLAMA_N_UBATCH,
      nUbatch: LLAMA_N_UBATCH,
      backend: 'CPU',
      gpuInfo: '',
      nGpuLayers: 0,
    },
    loadNs,
    async open(contextLength) {
      const context = await loaded.createContext({
        contextSize: contextLength + 1,
        batchSize: LLAMA_N_UBATCH,
        sequences: 1,
        threads,
        flashAttention: 'auto',
        ignoreMemorySafetyChecks: true,
      });
      // One checkpoint at the marked position (hybrid models cannot truncate their recurrent state
      // otherwise); no interval checkpoints, which would add work to the timed runs.
      const sequence = context.getSequence({ checkpoints: { max: 1, interval: false } });
      return llamaSequence(context, sequence);
    },
    async dispose() {
      await loaded.dispose();
    },
  };
}

function llamaSequence(context: LlamaContext, sequence: LlamaSequence): BenchSequence {
  let markedAt = 0;
  const lastWithLogits = (token: number): EvaluateItem => [token, { generateNext: { token: true, options: { temperature: 0 } } }] as EvaluateItem;
  return {
    async prompt(tokens) {
      const items: EvaluateItem[] = Array.from(tokens, (t) => t as EvaluateItem);
      items[items.length - 1] = lastWithLogits(tokens[tokens.length - 1]!);
      await sequence.controlledEvaluate(items);
    },
    async decode(token) {
      await sequence.controlledEvaluate([lastWithLogits(token)]);
    },
    async mark() {
      markedAt = sequence.nextTokenIndex;
      if (markedAt > 0) await sequence.takeCheckpoint();
    },
    async restore() {
      if (markedAt === 0) await sequence.clearHistory();
      else if (sequence.nextTokenIndex > markedAt) {
        await sequence.eraseContextTokenRanges([{ start: markedAt, end: sequence.nextTokenIndex }]);
      }
      if (sequence.nextTokenIndex !== markedAt) throw new Error(`llama.cpp: restored to ${sequence.nextTokenIndex} tokens, not ${markedAt}`);
    },
    async dispose() {
      await context.dispose();
    },
  };
}
