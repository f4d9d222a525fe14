// Sessions: prefill in one batch, in chunks and token by token agree; snapshot → restore →
// continue equals never stopping (memory and file); clone; truncate; two sessions interleaved
// equal each alone; the context limit is enforced with a clear error; one evaluation at a time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ContextLimitError, type Model } from '../../src/engine/index.js';
import { loadTestModel } from './helpers/device.js';
import { extraArchModel, maxAbsDiff, presetModel, randomTokens, tempDir } from './helpers/models.js';

const tmp = tempDir();
const models: Record<string, Model> = {};

beforeAll(async () => {
  models.tiny = await loadTestModel(await presetModel('tiny'), { threads: 2 });
  models['tiny-moe'] = await loadTestModel(await presetModel('tiny-moe'), { threads: 2 });
  models.qwen3next = await loadTestModel(await extraArchModel('qwen3next', tmp.dir), { threads: 2 });
});
afterAll(() => {
  for (const m of Object.values(models)) m.dispose();
  tmp.cleanup();
});

/** Scale-relative difference: max |a - b| / max |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  return maxAbsDiff(a, b) / scale;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Random chunk sizes (deterministic) summing to n. */
function chunkSizes(n: number, seed: number): number[] {
  const sizes: number[] = [];
  let s = seed;
  for (let left = n; left > 0; ) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const size = Math.min(left, 1 + (s % 97));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

describe.each(['tiny', 'tiny-moe', 'qwen3next'])('%s', (name) => {
  const model = () => models[name]!;

  it('prefill in one batch, in random chunks and token by token gives the same logits', async () => {
    const n = 600; // longer than the 512-token micro-batch
    const tokens = randomTokens(n, model().info.nVocab, 11);

    const batch = model().createSession();
    const all = (await batch.evaluate(tokens, { logits: 'all' }))!;

    const chunked = model().createSession();
    const parts: Float32Array[] = [];
    let off = 0;
    for (const size of chunkSizes(n, 5)) {
      parts.push((await chunked.evaluate(tokens.slice(off, off + size), { logits: 'all' }))!);
      off += size;
    }
    const stepwise = model().createSession();
    const steps: Float32Array[] = [];
    for (const t of tokens) steps.push((await stepwise.evaluate([t], { logits: 'last' }))!);

    const dChunks = relDiff(concat(parts), all);
    const dSteps = relDiff(concat(steps), all);
    console.log(`[consistency] ${name}: chunks vs batch rel ${dChunks.toExponential(2)}, token-by-token vs batch rel ${dSteps.toExponential(2)}`);
    expect(dChunks).toBeLessThan(1e-4);
    expect(dSteps).toBeLessThan(1e-4);
    expect(batch.position).toBe(n);
    expect(chunked.position).toBe(n);
    expect(stepwise.position).toBe(n);
    for (const s of [batch, chunked, stepwise]) s.dispose();
  });

  it("logits 'last' or 'none' leave the state 'all' leaves, and 'last' is the last row of 'all'", async () => {
    // The last layer computes only the rows whose logits are asked for; every token still goes
    // into the caches and the recurrent state.
    const prompt = randomTokens(300, model().info.nVocab, 21);
    const next = randomTokens(7, model().info.nVocab, 22);
    const nVocab = model().info.nVocab;
    const withAll = model().createSession();
    const all = (await withAll.evaluate(prompt, { logits: 'all' }))!;
    const afterAll = (await withAll.evaluate(next, { logits: 'all' }))!;

    const withLast = model().createSession();
    const last = (await withLast.evaluate(prompt, { logits: 'last' }))!;
    expect(last.length).toBe(nVocab);
    const dLast = relDiff(last, all.subarray(all.length - nVocab));
    console.log(`[output rows] ${name}: 'last' vs last row of 'all' rel ${dLast.toExponential(2)}`);
    expect(dLast).toBeLessThan(1e-5);
    expect(maxAbsDiff((await withLast.evaluate(next, { logits: 'all' }))!, afterAll)).toBe(0);

    const withNone = model().createSession();
    expect(await withNone.evaluate(prompt, { logits: 'none' })).toBeUndefined();
    expect(maxAbsDiff((await withNone.evaluate(next, { logits: 'all' }))!, afterAll)).toBe(0);
    for (const s of [withAll, withLast, withNone]) s.dispose();
  });

  it('snapshot → restore → continue equals never having stopped (memory and file)', async () => {
    const a = randomTokens(70, model().info.nVocab, 21);
    const b = randomTokens(30, model().info.nVocab, 22);

    const straight = model().createSession();
    await straight.prefill(a);
    const expected = (await straight.evaluate(b, { logits: 'all' }))!;
    const expectedGen = await collect(straight.generate({ maxTokens: 8, sampling: { temperature: 0.9, seed: 42 } }));

    const first = model().createSession();
    await first.prefill(a);
    const snapshot = first.save();
    const file = path.join(tmp.dir, `${name}.snapshot`);
    await first.saveToFile(file);
    first.dispose();

    const restored = model().createSession();
    restored.restore(snapshot);
    expect(restored.position).toBe(a.length);
    expect(maxAbsDiff((await restored.evaluate(b, { logits: 'all' }))!, expected)).toBe(0);
    expect(await collect(restored.generate({ maxTokens: 8, sampling: { temperature: 0.9, seed: 42 } }))).toEqual(expectedGen);

    const fromFile = model().createSession();
    await fromFile.loadFromFile(file);
    expect(fromFile.position).toBe(a.length);
    expect(maxAbsDiff((await fromFile.evaluate(b, { logits: 'all' }))!, expected)).toBe(0);

    // The logits kept with the snapshot let generation start right after a restore.
    const genOnly = model().createSession();
    genOnly.restore(snapshot);
    const direct = model().createSession();
    await direct.prefill(a);
    expect(await collect(genOnly.generate({ maxTokens: 5, sampling: { temperature: 0 } }))).toEqual(
      await collect(direct.generate({ maxTokens: 5, sampling: { temperature: 0 } })),
    );
    for (const s of [straight, restored, fromFile, genOnly, direct]) s.dispose();
  });

  it('truncating to an earlier snapshot equals a session that never saw the later tokens', async () => {
    const a = randomTokens(40, model().info.nVocab, 31);
    const b = randomTokens(25, model().info.nVocab, 32);
    const c = randomTokens(15, model().info.nVocab, 33);
    const s = model().createSession();
    await s.prefill(a);
    const atA = s.save();
    await s.prefill(b);
    expect(s.position).toBe(65);
    s.restore(atA);
    expect(s.position).toBe(40);
    const got = (await s.evaluate(c, { logits: 'all' }))!;

    const fresh = model().createSession();
    await fresh.prefill(a);
    expect(maxAbsDiff(got, (await fresh.evaluate(c, { logits: 'all' }))!)).toBe(0);
    s.dispose();
    fresh.dispose();
  });

  it('clone continues independently of its original', async () => {
    const a = randomTokens(50, model().info.nVocab, 41);
    const b = randomTokens(20, model().info.nVocab, 42);
    const c = randomTokens(20, model().info.nVocab, 43);
    const original = model().createSession();
    await original.prefill(a);
    const copy = original.clone();
    expect(copy.position).toBe(50);
    const fromCopy = (await copy.evaluate(b, { logits: 'all' }))!;
    await copy.prefill(c); // moves the copy on; the original must not notice
    const fromOriginal = (await original.evaluate(b, { logits: 'all' }))!;
    expect(maxAbsDiff(fromCopy, fromOriginal)).toBe(0);
    expect(original.position).toBe(70);
    expect(copy.position).toBe(90);
    original.dispose();
    copy.dispose();
  });

  it('two sessions interleaved (and concurrent) equal each alone', async () => {
    const p = randomTokens(60, model().info.nVocab, 51);
    const q = randomTokens(45, model().info.nVocab, 52);
    const alone = async (tokens: number[]) => {
      const s = model().createSession();
      const parts: Float32Array[] = [];
      for (let i = 0; i < tokens.length; i += 15) parts.push((await s.evaluate(tokens.slice(i, i + 15), { logits: 'all' }))!);
      s.dispose();
      return concat(parts);
    };
    const expectedP = await alone(p);
    const expectedQ = await alone(q);

    const sp = model().createSession();
    const sq = model().createSession();
    const partsP: Float32Array[] = [];
    const partsQ: Float32Array[] = [];
    for (let i = 0; i < Math.max(p.length, q.length); i += 15) {
      // Both evaluations in flight at once, on two worker threads.
      const [lp, lq] = await Promise.all([
        i < p.length ? sp.evaluate(p.slice(i, i + 15), { logits: 'all' }) : undefined,
        i < q.length ? sq.evaluate(q.slice(i, i + 15), { logits: 'all' }) : undefined,
      ]);
      if (lp) partsP.push(lp);
      if (lq) partsQ.push(lq);
    }
    expect(maxAbsDiff(concat(partsP), expectedP)).toBe(0);
    expect(maxAbsDiff(concat(partsQ), expectedQ)).toBe(0);
    sp.dispose();
    sq.dispose();
  });
});

describe('limits and misuse', () => {
  it('refuses to pass the context length with a clear error and keeps the session usable', async () => {
    const m = models.tiny!;
    const s = m.createSession({ contextLength: 16 });
    expect(s.contextLength).toBe(16);
    await s.prefill(randomTokens(10, m.info.nVocab, 61));
    const err = await s.prefill(randomTokens(7, m.info.nVocab, 62)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextLimitError);
    expect((err as ContextLimitError).code).toBe('ERR_CONTEXT_LIMIT');
    expect((err as Error).message).toMatch(/context length exceeded: the session holds 10 tokens, 7 more would pass its context length of 16/);
    expect(s.position).toBe(10);
    await s.prefill(randomTokens(6, m.info.nVocab, 63));
    expect(s.position).toBe(16);
    // generate stops with the same error once the session is full.
    const gen = s.generate({ maxTokens: 3, sampling: { temperature: 0 } });
    await expect(gen.next()).rejects.toMatchObject({ code: 'ERR_CONTEXT_LIMIT' });
    s.dispose();
  });

  it('a snapshot past a smaller session limit, from another model, or damaged, is refused', async () => {
    const s = models.tiny!.createSession();
    await s.prefill(randomTokens(30, models.tiny!.info.nVocab, 71));
    const snap = s.save();
    expect(() => models.tiny!.createSession({ contextLength: 20 }).restore(snap)).toThrow(/past this session's context length of 20/);
    expect(() => models['tiny-moe']!.createSession().restore(snap)).toThrow(/different model/);
    const damaged = snap.slice();
    damaged[damaged.length - 100]! ^= 0xff;
    const t = models.tiny!.createSession();
    expect(() => t.restore(damaged)).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_FILE' }));
    expect(() => t.restore(new Uint8Array([1, 2, 3]))).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_FILE' }));
    expect(t.position).toBe(0);
    s.dispose();
    t.dispose();
  });

  it('rejects a second evaluation while one is running', async () => {
    const m = models.tiny!;
    const s = m.createSession();
    const first = s.evaluate(randomTokens(200, m.info.nVocab, 81), { logits: 'none' });
    const second = s.evaluate([1, 2, 3], { logits: 'last' });
    await expect(second).rejects.toMatchObject({ code: 'ERR_SESSION_BUSY' });
    expect(() => s.save()).toThrow(expect.objectContaining({ code: 'ERR_SESSION_BUSY' }));
    await first;
    expect(s.position).toBe(200);
    s.dispose();
  });
});

describe('dispose', () => {
  it('dispose during an evaluation waits for it, then frees the session', async () => {
    const m = models.tiny!;
    const s = m.createSession();
    const pending = s.evaluate(randomTokens(100, m.info.nVocab, 91), { logits: 'last' });
    s.dispose();
    expect(s.disposed).toBe(true);
    expect((await pending)!.length).toBe(m.info.nVocab);
    await expect(s.evaluate([1])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});

async function collect(gen: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t);
  return out;
}

describe('KV cache type', () => {
  it('an f16 cache gives logits close to the f32 one, and snapshots restore only into the same type', async () => {
    const tokens = randomTokens(300, models.tiny!.info.nVocab, 2000);
    const f16 = models.tiny!.createSession({ kvCacheType: 'f16' });
    const f32 = models.tiny!.createSession({ kvCacheType: 'f32' });
    const a = (await f16.evaluate(tokens, { logits: 'all' }))!;
    const b = (await f32.evaluate(tokens, { logits: 'all' }))!;
    const d = relDiff(a, b);
    expect(d).toBeGreaterThan(0); // the caches really differ
    expect(d).toBeLessThan(1e-2);
    const snap = f16.save();
    const other = models.tiny!.createSession({ kvCacheType: 'f32' });
    expect(() => other.restore(snap)).toThrow(/KV cache is f16, this session's is f32/);
    const same = models.tiny!.createSession({ kvCacheType: 'f16' });
    same.restore(snap);
    expect(same.position).toBe(300);
    expect(() => models.tiny!.createSession({ kvCacheType: 'q8' as never })).toThrow(/kvCacheType must be 'f16' or 'f32'/);
    for (const s of [f16, f32, other, same]) s.dispose();
  });
});
