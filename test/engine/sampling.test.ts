// Sampling and generate(): greedy is the argmax, top-k = 1 is greedy, a seed fixes the stream,
// penalties act on the history, stop tokens and AbortSignal end generation, counters count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model, type Session } from '../../src/engine/index.js';
import { argmax, presetModel, randomTokens } from './helpers/models.js';

let model: Model;
const prompt = randomTokens(24, 512, 3);

beforeAll(async () => {
  model = await loadModel(await presetModel('tiny'), { threads: 2 });
});
afterAll(() => model.dispose());

async function collect(gen: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t);
  return out;
}

async function prefilled(): Promise<Session> {
  const s = model.createSession();
  await s.prefill(prompt);
  return s;
}

describe('sampling', () => {
  it('greedy generation is the argmax of the logits at every step', async () => {
    const s = await prefilled();
    const got = await collect(s.generate({ maxTokens: 12, sampling: { temperature: 0 } }));

    const manual = model.createSession();
    let logits = (await manual.evaluate(prompt, { logits: 'last' }))!;
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t = argmax(logits);
      expected.push(t);
      logits = (await manual.evaluate([t], { logits: 'last' }))!;
    }
    expect(got).toEqual(expected);
    expect(s.position).toBe(prompt.length + 12);
    expect(s.stats).toEqual({ tokensPrefilled: prompt.length, tokensDecoded: 12, evaluations: 13 });
    s.dispose();
    manual.dispose();
  });

  it('top-k = 1 at any temperature equals greedy', async () => {
    const greedy = await collect((await prefilled()).generate({ maxTokens: 10, sampling: { temperature: 0 } }));
    const topK1 = await collect((await prefilled()).generate({ maxTokens: 10, sampling: { temperature: 1.5, topK: 1, seed: 9 } }));
    expect(topK1).toEqual(greedy);
  });

  it('the same seed gives the same tokens; another seed other tokens', async () => {
    const opts = (seed: number) => ({ maxTokens: 16, sampling: { temperature: 1.2, topK: 0, topP: 1, minP: 0, seed } });
    const a = await collect((await prefilled()).generate(opts(1234)));
    const b = await collect((await prefilled()).generate(opts(1234)));
    const c = await collect((await prefilled()).generate(opts(99)));
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });

  it('high temperature spreads over many tokens, low temperature concentrates', async () => {
    const base = await prefilled();
    const draws = async (temperature: number) => {
      const seen = new Set<number>();
      for (let seed = 0; seed < 60; seed++) {
        const c = base.clone();
        const [t] = await collect(c.generate({ maxTokens: 1, sampling: { temperature, topK: 0, topP: 1, minP: 0, seed } }));
        seen.add(t!);
        c.dispose();
      }
      return seen.size;
    };
    expect(await draws(5)).toBeGreaterThan(20);
    expect(await draws(0.05)).toBeLessThanOrEqual(2);
    base.dispose();
  });

  it('presence and repetition penalties keep seen tokens out', async () => {
    const s = await prefilled();
    const got = await collect(
      s.generate({ maxTokens: 20, sampling: { temperature: 0, presencePenalty: 100, repeatPenalty: 1.5, penaltyLastN: -1 } }),
    );
    expect(new Set(got).size).toBe(got.length);
    for (const t of got) expect(prompt).not.toContain(t);
    s.dispose();
  });

  it('stop tokens end generation (not yielded, not evaluated)', async () => {
    const greedy = await collect((await prefilled()).generate({ maxTokens: 10, sampling: { temperature: 0 } }));
    const stopAt = greedy.findIndex((t, i) => i > 0 && !greedy.slice(0, i).includes(t));
    const s = await prefilled();
    const got = await collect(s.generate({ maxTokens: 10, sampling: { temperature: 0 }, stopTokens: [greedy[stopAt]!] }));
    expect(got).toEqual(greedy.slice(0, stopAt));
    expect(s.position).toBe(prompt.length + stopAt);
    s.dispose();
  });

  it('an AbortSignal stops generation between tokens', async () => {
    const s = await prefilled();
    const controller = new AbortController();
    const got: number[] = [];
    for await (const t of s.generate({ maxTokens: 50, sampling: { temperature: 0 }, signal: controller.signal })) {
      got.push(t);
      if (got.length === 3) controller.abort();
    }
    expect(got.length).toBe(3);
    expect(s.position).toBe(prompt.length + 3);
    expect(s.stats.tokensDecoded).toBe(3);
    s.dispose();
  });

  it('sampling needs logits and valid parameters', async () => {
    const s = model.createSession();
    await expect(s.generate({ maxTokens: 1 }).next()).rejects.toThrow(/no logits to sample from/);
    await s.evaluate(prompt, { logits: 'none' });
    await expect(s.generate({ maxTokens: 1 }).next()).rejects.toThrow(/no logits/);
    await s.evaluate([1], { logits: 'last' });
    await expect(s.generate({ maxTokens: 1, sampling: { minP: 2 } }).next()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(s.generate({ maxTokens: 1, sampling: { temperature: Number.NaN } }).next()).rejects.toThrow(/temperature/);
    s.dispose();
  });
});
