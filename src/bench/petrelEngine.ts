// petrel behind the bench interface. A pp test is Session.prefill in n_batch pieces (the engine
// splits each into 512-token forward passes); a tg step is a one-token prefill, which computes the
// last logits like llama-bench's decode and samples nothing. Restoring a snapshot (Session.save /
// restore) gives every repetition the same empty or prefilled context.
import { loadModel, type Session } from '../engine/index.js';
import { petrelBuild } from './buildInfo.js';
import type { BenchOptions } from './args.js';
import type { BenchEngine, BenchSequence } from './engine.js';
import type { ModelDescription } from './modelDescription.js';

/** Tokens per prefill call, as llama-bench's default n_batch. */
export const PETREL_N_BATCH = 2048;
/** Tokens per forward pass inside the engine (native/engine/session.cpp kMicroBatch). */
export const PETREL_N_UBATCH = 512;

/**
 * With `offload`, the device plan counts the KV cache at `contextLength` (the longest test's
 * context), not at the model's full context.
 */
export async function openPetrel(
  model: ModelDescription,
  threads: number,
  offload?: BenchOptions['offload'],
  contextLength?: number,
): Promise<BenchEngine> {
  const modelPath = model.filename;
  const started = process.hrtime.bigint();
  const loaded = await loadModel(modelPath, {
    threads,
    ...(offload ? { offload: { device: offload.device, vramBytes: offload.vramBytes }, contextLength } : {}),
  });
  const loadNs = Number(process.hrtime.bigint() - started);
  const build = petrelBuild();
  return {
    facts: {
      engine: 'petrel',
      buildCommit: build.commit,
      buildNumber: build.number,
      modelType: model.type,
      modelSize: model.sizeBytes,
      kvType: 'f16',
      nBatch: PETREL_N_BATCH,
      nUbatch: PETREL_N_UBATCH,
      backend: offload ? 'CPU+sim' : 'CPU',
    },
    loadNs,
    ...(offload
      ? {
          offloadCounters: () => {
            const st = loaded.offloadStats();
            return {
              rowsSelected: st.rowsSelected,
              rowsOnDevice: st.rowsOnDevice,
              bytesUploaded: st.bytesUploaded,
              bytesStreamed: st.bytesStreamed,
            };
          },
        }
      : {}),
    async open(contextLength) {
      return petrelSequence(loaded.createSession({ contextLength, kvCacheType: 'f16' }));
    },
    async dispose() {
      loaded.dispose();
    },
  };
}

function petrelSequence(session: Session): BenchSequence {
  let marked = session.save();
  const one = new Int32Array(1);
  return {
    async prompt(tokens) {
      for (let i = 0; i < tokens.length; i += PETREL_N_BATCH) await session.prefill(tokens.subarray(i, i + PETREL_N_BATCH));
    },
    async decode(token) {
      one[0] = token;
      await session.prefill(one);
    },
    async mark() {
      marked = session.save();
    },
    async restore() {
      session.restore(marked);
    },
    async dispose() {
      session.dispose();
    },
  };
}
