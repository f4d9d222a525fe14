// Abortable prefill: an AbortSignal stops a long evaluation between 512-token micro-batches, the
// call rejects with an AbortError, and the session is exactly as before the call (same snapshot
// bytes, same continuation), because the DeltaNet states are copied before the first micro-batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, loadModel, type Model, type Session } from '../../src/engine/index.js';
import { maxAbsDiff, presetModel, randomTokens } from './helpers/models.js';

let tiny: Model;

beforeAll(async () => {
  tiny = await loadModel(await presetModel('tiny'), { threads: 2 });
});
afterAll(() => tiny.dispose());

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

async function collect(gen: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t);
  return out;
}

describe('abortable prefill', () => {
  it('an abort after the first micro-batch of a 2000-token prompt rejects promptly and leaves the session as it was', async () => {
    const nVocab = tiny.info.nVocab;
    const head = randomTokens(100, nVocab, 1);
    const s = tiny.createSession();
    await s.prefill(head);
    const before = s.save();
    const stats = { ...s.stats };

    const abort = new AbortController();
    const progress: number[] = [];
    const t0 = performance.now();
    let firstBatchMs = 0;
    let abortedAt = 0;
    const err = await s
      .prefill(randomTokens(2000, nVocab, 2), {
        signal: abort.signal,
        onProgress: (done, total) => {
          progress.push(done);
          expect(total).toBe(2000);
          if (abort.signal.aborted) return;
          abortedAt = performance.now();
          firstBatchMs = abortedAt - t0;
          abort.abort();
        },
      })
      .catch((e: unknown) => e);
    const latencyMs = performance.now() - abortedAt;
    console.log(`[abort] first micro-batch ${firstBatchMs.toFixed(0)} ms, abort → rejection ${latencyMs.toFixed(0)} ms`);

    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' });
    expect((err as Error).message).toMatch(/aborted; the session is back at position 100/);
    expect(progress[0]).toBe(512);
    // Promptly: the micro-batch running when the abort came finishes, no further one starts
    // (the whole prompt would take four).
    expect(latencyMs).toBeLessThan(2 * firstBatchMs + 100);
    expect(s.position).toBe(100);
    expect(s.stats).toEqual(stats);
    // Exactly as before: the same bytes, the same kept logits, the same continuation.
    expect(same(s.save(), before)).toBe(true);
    const fresh = tiny.createSession();
    await fresh.prefill(head);
    expect(await collect(s.clone().generate({ maxTokens: 4, sampling: { temperature: 0 } }))).toEqual(
      await collect(fresh.clone().generate({ maxTokens: 4, sampling: { temperature: 0 } })),
    );
    const next = randomTokens(600, nVocab, 3);
    expect(maxAbsDiff((await s.evaluate(next, { logits: 'all' }))!, (await fresh.evaluate(next, { logits: 'all' }))!)).toBe(0);
    expect(s.position).toBe(700);
    s.dispose();
    fresh.dispose();
  });

  it('an already aborted signal rejects at once, without evaluating', async () => {
    const s = tiny.createSession();
    const abort = new AbortController();
    abort.abort();
    await expect(s.prefill([1, 2, 3], { signal: abort.signal })).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' });
    await expect(s.evaluate([1, 2, 3], { signal: abort.signal })).rejects.toBeInstanceOf(AbortError);
    expect(s.position).toBe(0);
    expect(s.stats.evaluations).toBe(0);
    s.dispose();
  });

  it('an abort after the call completed changes nothing, and only cancels its own call', async () => {
    const nVocab = tiny.info.nVocab;
    const s: Session = tiny.createSession();
    const abort = new AbortController();
    await s.prefill(randomTokens(600, nVocab, 4), { signal: abort.signal });
    abort.abort();
    expect(s.position).toBe(600);

    // A call refused as busy must not cancel the evaluation that made it busy.
    const other = new AbortController();
    const running = s.prefill(randomTokens(1200, nVocab, 5));
    await expect(s.prefill([1], { signal: other.signal })).rejects.toMatchObject({ code: 'ERR_SESSION_BUSY' });
    other.abort();
    await running;
    expect(s.position).toBe(1800);
    s.dispose();
  });
});
