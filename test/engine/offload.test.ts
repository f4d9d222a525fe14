// MoE expert offload on the simulated device (native/offload/): whatever the placement (no slots,
// a quarter of the experts, all of them), eviction policy, upload cap or prefetch, the logits are
// bit-identical to the model without offload, in prefill and decode, for float and for Q4_K_M
// weights (whose experts the CPU backend repacks). The counters say what the device did, a
// routing trace holds one step per forward call, and bad options fail with one clear error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModel, type LoadModelOptions, type Model, type OffloadOptions } from '../../src/engine/index.js';
import { quantizeGguf } from '../../src/quantize/index.js';
import { maxAbsDiff, presetModel, randomTokens, tempDir } from './helpers/models.js';

const tmp = tempDir('petrel-offload-');
const CONTEXT = 1024;
const files: Record<string, string> = {};

beforeAll(async () => {
  files.f32 = await presetModel('tiny-moe');
  files.q4 = path.join(tmp.dir, 'tiny-moe-q4_k_m.gguf');
  await quantizeGguf({ input: files.f32, output: files.q4, type: 'q4_k_m', threads: 2 });
}, 120_000);
afterAll(() => tmp.cleanup());

interface Run {
  logits: Float32Array[];
  model: Model;
}

/** A 70-token prefill (every row's logits) then 12 greedy decode steps. */
async function run(file: string, options: LoadModelOptions): Promise<Run> {
  const model = await loadModel(file, { threads: 2, contextLength: CONTEXT, ...options });
  const session = model.createSession({ kvCacheType: 'f32' });
  const logits: Float32Array[] = [];
  logits.push((await session.evaluate(randomTokens(70, model.info.nVocab, 5), { logits: 'all' }))!);
  let next = 0;
  for (let i = 0; i < 12; i++) {
    const row = (await session.evaluate([next], { logits: 'last' }))!;
    logits.push(row);
    next = row.indexOf(Math.max(...row));
  }
  session.dispose();
  return { logits, model };
}

function expectSameLogits(a: Run, b: Run): void {
  expect(a.logits.length).toBe(b.logits.length);
  a.logits.forEach((row, i) => expect(maxAbsDiff(row, b.logits[i]!)).toBe(0));
}

/**
 * The budget that holds everything but the experts, the staging slots of streaming prefill, and
 * `slots` cached experts (reserve 0).
 */
async function budgetFor(file: string, slots: number): Promise<{ vramBytes: number; experts: number }> {
  const probe = await loadModel(file, {
    threads: 1,
    contextLength: CONTEXT,
    offload: { device: 'simulated', vramBytes: 1, reserveBytes: 0 },
  });
  const st = probe.offloadStats();
  probe.dispose();
  expect(st.deviceBytes).toBe(0); // nothing fits in one byte
  const full = await loadModel(file, {
    threads: 1,
    contextLength: CONTEXT,
    offload: { device: 'simulated', vramBytes: 2 ** 40, reserveBytes: 0 },
  });
  const all = full.offloadStats();
  full.dispose();
  expect(all.expertSlots).toBe(all.experts);
  expect(all.stagingSlots).toBe(2 * full.info.nExpert);
  return { vramBytes: all.deviceBytes + (all.stagingSlots + slots) * all.expertBytes, experts: all.experts };
}

describe.each(['f32', 'q4'])('tiny-moe %s', (kind) => {
  const file = () => files[kind]!;
  let reference: Run;

  beforeAll(async () => {
    reference = await run(file(), {});
  }, 60_000);
  afterAll(() => reference.model.dispose());

  it('no slots, a quarter of the experts or all of them: the same logits, and counters that add up', async () => {
    const { experts } = await budgetFor(file(), 0);
    const quarter = Math.floor(experts / 4);
    for (const slots of [0, quarter, experts]) {
      const { vramBytes } = await budgetFor(file(), slots);
      const r = await run(file(), { offload: { device: 'simulated', vramBytes, reserveBytes: 0 } });
      const st = r.model.offloadStats();
      expect(st.expertSlots).toBe(slots);
      expect(st.device).toBe('simulated');
      expect(st.steps).toBe(1 + 12);
      expect(st.rowsSelected).toBeGreaterThan(0);
      if (slots === 0) {
        expect(st.rowsOnDevice).toBe(0);
        expect(st.uploads).toBe(0);
      } else if (slots === experts) {
        expect(st.rowsOnDevice).toBe(st.rowsSelected);
        expect(st.uploads).toBe(0);
      } else {
        expect(st.rowsOnDevice).toBeGreaterThan(0);
        expect(st.rowsOnDevice).toBeLessThan(st.rowsSelected);
        expect(st.uploads).toBeGreaterThan(0);
        // expertBytes is the largest expert (Q4_K_M mixes types across layers)
        expect(st.bytesUploaded).toBeGreaterThan(0);
        expect(st.bytesUploaded).toBeLessThanOrEqual(st.uploads * st.expertBytes);
      }
      expectSameLogits(r, reference);
      r.model.dispose();
    }
  }, 120_000);

  it('every eviction policy, upload cap and prefetch setting gives the same logits', async () => {
    const { vramBytes, experts } = await budgetFor(file(), 0);
    const { vramBytes: quarterBudget } = await budgetFor(file(), Math.floor(experts / 4));
    const settings: OffloadOptions[] = [
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, eviction: 'lru', prefetch: false },
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, eviction: 'lfu', maxUploadsPerLayer: 1 },
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, eviction: 'lrfu', decay: 0.5, maxUploadsPerLayer: 4 },
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, maxUploadsPerLayer: 0 },
      // Every prefill layer streams its misses through the staging slots; or never.
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, streamMinTokens: 2 },
      { device: 'simulated', vramBytes: quarterBudget, reserveBytes: 0, prefillStreaming: false },
    ];
    expect(vramBytes).toBeLessThan(quarterBudget);
    for (const offload of settings) {
      const r = await run(file(), { offload });
      const st = r.model.offloadStats();
      if (offload.maxUploadsPerLayer === 0) expect(st.uploads).toBe(0); // a static cache
      if (offload.prefetch === false) expect(st.prefetches).toBe(0);
      if (offload.streamMinTokens === 2) {
        // The 70-token prefill streams every layer's misses (the decode steps never do).
        expect(st.layersStreamed).toBeGreaterThan(0);
        // Every prefill row of every layer ran on the device, from the cache or from staging.
        const { nLayer, nExpertUsed } = r.model.info;
        expect(st.rowsOnDevice + st.rowsStreamed).toBeGreaterThanOrEqual(nLayer * 70 * nExpertUsed);
        expect(st.bytesStreamed).toBeLessThanOrEqual(st.expertsStreamed * st.expertBytes);
      }
      if (offload.prefillStreaming === false) {
        expect(st.stagingSlots).toBe(0);
        expect(st.layersStreamed).toBe(0);
      }
      expect(st.prefetchesUsed).toBeLessThanOrEqual(st.prefetches);
      expectSameLogits(r, reference);
      r.model.dispose();
    }
  }, 120_000);
});

describe('routing trace', () => {
  it('holds the model block and one step per forward call, and also works without a device', async () => {
    const trace = path.join(tmp.dir, 'routing.ptrt');
    const model = await loadModel(files.f32!, { threads: 2, contextLength: CONTEXT, routingTrace: trace });
    const session = model.createSession();
    await session.evaluate(randomTokens(600, model.info.nVocab, 3), { logits: 'last' }); // two micro-batches
    for (let i = 0; i < 5; i++) await session.evaluate([i + 1], { logits: 'last' });
    const st = model.offloadStats();
    expect(st.enabled).toBe(true);
    expect(st.device).toBe('');
    expect(st.traceError).toBe('');
    expect(st.rowsOnDevice).toBe(0);
    session.dispose();
    model.dispose();
    const bytes = readFileSync(trace);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('PTRT');
    const steps = bytes.toString('latin1').split('STEP').length - 1;
    expect(steps).toBe(2 + 5);
  });

  it('a trace that cannot be created fails the load with the path in the message', async () => {
    const bad = path.join(tmp.dir, 'no-such-dir', 'routing.ptrt');
    await expect(loadModel(files.f32!, { threads: 1, routingTrace: bad })).rejects.toThrow(/no-such-dir/);
  });
});

describe('bad offload options', () => {
  it('are refused with one clear error each', async () => {
    const load = (options: LoadModelOptions) => loadModel(files.f32!, { threads: 1, ...options });
    await expect(load({ offload: { device: 'simulated' } })).rejects.toThrow(/--vram/);
    await expect(load({ offload: { device: 'gpu' as 'simulated', vramBytes: 1e9 } })).rejects.toThrow(/offload.device/);
    await expect(load({ offload: { device: 'simulated', vramBytes: 1e9, eviction: 'mru' as 'lru' } })).rejects.toThrow(
      /eviction/,
    );
    await expect(load({ offload: { device: 'simulated', vramBytes: 1e9, decay: 0 } })).rejects.toThrow(/decay/);
    // The simulated device's slots are host memory: more than half of the machine's is refused.
    await expect(
      load({ offload: { device: 'simulated', vramBytes: 1e9, assumeHostMemoryBytes: 1e6 } }),
    ).rejects.toThrow(/simulated device's slots would take .* give a smaller --vram/);
    const dense = await presetModel('tiny');
    await expect(
      loadModel(dense, { threads: 1, offload: { device: 'simulated', vramBytes: 1e9 } }),
    ).rejects.toThrow(/mixture-of-experts/);
  });
});
