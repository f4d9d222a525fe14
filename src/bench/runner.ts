// Runs the planned tests the way llama-bench does: per test a warm-up run, then -r timed
// repetitions, each from the same starting context (empty, or prefilled to the depth once and
// restored), t/s = tokens / time of each repetition. With a peer engine the repetitions alternate
// (petrel, peer, petrel, …) so both see the same machine state, and both get the same token ids.
import type { BenchOptions } from './args.js';
import type { BenchEngine, BenchSequence, EngineFacts, EngineName, OpenEngine } from './engine.js';
import { peakRssBytes, resetPeakRss } from './machine.js';
import type { ModelDescription } from './modelDescription.js';
import { randomTokens } from './randomTokens.js';
import { groupContextLength, planTests, testName, type BenchTest } from './testPlan.js';

export interface TestResult {
  facts: EngineFacts;
  model: ModelDescription;
  threads: number;
  test: BenchTest;
  /** RFC 3339, to the second (llama-bench's test_time). */
  testTime: string;
  /** Time of each repetition. */
  samplesNs: number[];
  /** Per repetition: until the first new token's logits (the prompt; for tg, the first step). */
  ttftNs: number[];
  loadNs: number;
  /** Peak resident memory of the process during the test (both engines with a peer). */
  peakRssBytes: number;
  /** Expert offload over the timed repetitions (petrel with --vram). */
  offload?: { hitRate: number; uploadBytesPerToken: number };
}

export type BenchPhase = 'load' | 'depth' | 'warmup' | 'run';

export interface BenchProgress {
  /** 1-based test number and the number of tests (per engine). */
  index: number;
  total: number;
  model: ModelDescription;
  test?: string;
  engine: EngineName;
  phase: BenchPhase;
  rep?: number;
  reps?: number;
}

export interface RunBenchInput {
  models: ModelDescription[];
  options: BenchOptions;
  /** petrel first, then the peer if any. */
  engines: Array<{ name: EngineName; open: OpenEngine }>;
  onProgress?: (p: BenchProgress) => void;
  /** Called after each test with one result per engine, in engine order. */
  onTest: (results: TestResult[]) => void;
}

interface Contender {
  engine: BenchEngine;
  seq?: BenchSequence;
}

export async function runBench(input: RunBenchInput): Promise<void> {
  const { models, options, engines } = input;
  const perModel = planTests(options);
  const total = models.length * perModel.reduce((n, g) => n + g.tests.length, 0);
  let index = 0;
  for (const model of models) {
    for (const threads of options.threads) {
      const contenders: Contender[] = [];
      try {
        for (const e of engines) {
          input.onProgress?.({ index: index + 1, total, model, engine: e.name, phase: 'load' });
          contenders.push({ engine: await e.open(model, threads) });
        }
        for (const group of perModel.filter((g) => g.threads === threads)) {
          await prepareContext(contenders, model, group.depth, groupContextLength(group), options.seed, (engine) =>
            input.onProgress?.({ index: index + 1, total, model, engine, phase: 'depth' }),
          );
          for (const test of group.tests) {
            index++;
            const progress = (engine: EngineName, phase: BenchPhase, rep?: number) =>
              input.onProgress?.({ index, total, model, test: testName(test), engine, phase, rep, reps: options.repetitions });
            input.onTest(await runTest(contenders, model, threads, test, index, options, progress));
          }
          await closeSequences(contenders);
        }
      } finally {
        await closeSequences(contenders);
        for (const c of contenders) await c.engine.dispose();
      }
    }
  }
}

/** Opens each engine's sequence and fills it to the depth once (untimed); restore() returns there. */
async function prepareContext(
  contenders: Contender[],
  model: ModelDescription,
  depth: number,
  contextLength: number,
  seed: number,
  progress: (engine: EngineName) => void,
): Promise<void> {
  const depthTokens = depth > 0 ? randomTokens(model.nVocab, depth, seed, streamId(0, 0, 0)) : undefined;
  for (const c of contenders) {
    c.seq = await c.engine.open(contextLength);
    if (depthTokens) {
      progress(c.engine.facts.engine);
      await c.seq.prompt(depthTokens);
    }
    await c.seq.mark();
  }
}

async function runTest(
  contenders: Contender[],
  model: ModelDescription,
  threads: number,
  test: BenchTest,
  index: number,
  options: BenchOptions,
  progress: (engine: EngineName, phase: BenchPhase, rep?: number) => void,
): Promise<TestResult[]> {
  const testTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  resetPeakRss();
  if (options.warmup) {
    // llama-bench warms up with the whole prompt and one generation step.
    const warm = randomTokens(model.nVocab, test.nPrompt + 1, options.seed, streamId(index, 1, 0));
    for (const c of contenders) {
      progress(c.engine.facts.engine, 'warmup');
      await c.seq!.restore();
      if (test.nPrompt > 0) await c.seq!.prompt(warm.subarray(0, test.nPrompt));
      if (test.nGen > 0) await c.seq!.decode(warm[test.nPrompt]!);
    }
  }
  const samples = contenders.map(() => ({ ns: [] as number[], ttft: [] as number[] }));
  const before = contenders.map((c) => c.engine.offloadCounters?.());
  for (let rep = 0; rep < options.repetitions; rep++) {
    const tokens = randomTokens(model.nVocab, test.nPrompt + test.nGen, options.seed, streamId(index, 2, rep));
    for (const [i, c] of contenders.entries()) {
      progress(c.engine.facts.engine, 'run', rep + 1);
      await c.seq!.restore();
      const { totalNs, firstNs } = await timedRun(c.seq!, tokens, test);
      samples[i]!.ns.push(totalNs);
      samples[i]!.ttft.push(firstNs);
    }
  }
  const peak = peakRssBytes();
  const offloadOf = (c: Contender, i: number): TestResult['offload'] => {
    const a = before[i];
    const b = c.engine.offloadCounters?.();
    if (!a || !b) return undefined;
    const rows = b.rowsSelected - a.rowsSelected;
    const tokens = (test.nPrompt + test.nGen) * options.repetitions;
    const bytes = b.bytesUploaded - a.bytesUploaded + (b.bytesStreamed - a.bytesStreamed);
    return { hitRate: rows > 0 ? (b.rowsOnDevice - a.rowsOnDevice) / rows : 0, uploadBytesPerToken: tokens > 0 ? bytes / tokens : 0 };
  };
  return contenders.map((c, i) => ({
    facts: c.engine.facts,
    model,
    threads,
    test,
    testTime,
    samplesNs: samples[i]!.ns,
    ttftNs: samples[i]!.ttft,
    loadNs: c.engine.loadNs,
    peakRssBytes: peak,
    ...(c.engine.offloadCounters ? { offload: offloadOf(c, i) } : {}),
  }));
}

/** One repetition: the prompt in one go, then nGen single-token steps, each timed end to end. */
async function timedRun(seq: BenchSequence, tokens: Int32Array, test: BenchTest): Promise<{ totalNs: number; firstNs: number }> {
  const start = process.hrtime.bigint();
  let first = start;
  if (test.nPrompt > 0) {
    await seq.prompt(tokens.subarray(0, test.nPrompt));
    first = process.hrtime.bigint();
  }
  for (let i = 0; i < test.nGen; i++) {
    await seq.decode(tokens[test.nPrompt + i]!);
    if (i === 0 && test.nPrompt === 0) first = process.hrtime.bigint();
  }
  const end = process.hrtime.bigint();
  return { totalNs: Number(end - start), firstNs: Number(first - start) };
}

async function closeSequences(contenders: Contender[]): Promise<void> {
  for (const c of contenders) {
    const seq = c.seq;
    c.seq = undefined;
    if (seq) await seq.dispose();
  }
}

/** Token stream of (test, kind: 0 depth / 1 warm-up / 2 repetition, repetition). */
function streamId(test: number, kind: number, rep: number): number {
  return ((test * 4 + kind) * 4096 + rep) >>> 0;
}
