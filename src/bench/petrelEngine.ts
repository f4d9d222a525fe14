// petrel behind the bench interface. A pp test is Session.prefill in n_batch pieces (the engine
// splits each into 512-token forward passes); a tg step is a one-token prefill, which computes the
// last logits like llama-bench's decode and samples nothing. Restoring a snapshot (Session.save /
// restore) gives every repetition the same empty or prefilled context.
import { loadModel, type Device, type Session } from '../engine/index.js';
import { petrelBuild } from './buildInfo.js';
import type { BenchOptions } from './args.js';
import type { BenchEngine, BenchSequence } from './engine.js';
import type { ModelDescription } from './modelDescription.js';

/** Tokens per prefill call, as llama-bench's default n_batch. */
export const PETREL_N_BATCH = 2048;
/** Tokens per forward pass inside the engine (native/engine/session.cpp kMicroBatch). */
export const PETREL_N_UBATCH = 512;

export interface PetrelPlacement {
  device: Device;
  /** llama.cpp's -ngl, when given. */
  gpuLayers?: number;
  offload?: BenchOptions['offload'];
  /** With `offload`: the device plan counts the KV cache at this (the longest test's) context, not the model's. */
  contextLength?: number;
}

export async function openPetrel(model: ModelDescription, threads: number, placement: PetrelPlacement): Promise<BenchEngine> {
  const modelPath = model.filename;
  const { offload } = placement;
  const started = process.hrtime.bigint();
  const loaded = await loadModel(modelPath, {
    threads,
    device: placement.device,
    ...(placement.gpuLayers !== undefined ? { gpuLayers: placement.gpuLayers } : {}),
    ...(offload ? { offload: { device: offload.device, vramBytes: offload.vramBytes }, contextLength: placement.contextLength } : {}),
  });
  const loadNs = Number(process.hrtime.bigint() - started);
  const build = petrelBuild();
  const { backend } = loaded.info;
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
      backend: offload ? `${backend}+sim` : backend,
      gpuInfo: backend === 'CPU' ? '' : loaded.info.deviceName,
      nGpuLayers: backend === 'CPU' ? 0 : loaded.info.nLayer,
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
