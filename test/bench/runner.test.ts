// The runner's protocol, with fake engines (no timing): a warm-up per test, each repetition from
// the marked context, engines alternating, the same token ids for every engine, depth filled once.
import { describe, expect, it } from 'vitest';
import { parseBenchFlags } from '../../src/bench/args.js';
import type { BenchEngine, EngineFacts, EngineName, OpenEngine } from '../../src/bench/engine.js';
import type { ModelDescription } from '../../src/bench/modelDescription.js';
import { runBench, type TestResult } from '../../src/bench/runner.js';

const model: ModelDescription = { filename: 'm.gguf', type: 'qwen35 ?B Q8_0', sizeBytes: 1, nParams: 1, nVocab: 100 };

function fakeEngine(name: EngineName, log: string[]): OpenEngine {
  return async (_model, threads): Promise<BenchEngine> => {
    log.push(`${name} load t${threads}`);
    return {
      facts: { engine: name, buildCommit: 'x', buildNumber: 1, modelType: model.type, modelSize: 1, kvType: 'f32', nBatch: 2048, nUbatch: 512, backend: 'CPU', gpuInfo: '', nGpuLayers: 0 } as EngineFacts,
      loadNs: 1,
      async open(contextLength) {
        log.push(`${name} open ${contextLength}`);
        let position = 0;
        let marked = 0;
        return {
          async prompt(tokens) {
            position += tokens.length;
            log.push(`${name} prompt ${tokens.length} [${Array.from(tokens.subarray(0, 3)).join(',')}]`);
          },
          async decode(token) {
            position++;
            log.push(`${name} decode ${token}`);
          },
          async mark() {
            marked = position;
            log.push(`${name} mark ${marked}`);
          },
          async restore() {
            position = marked;
            log.push(`${name} restore ${marked}`);
          },
          async dispose() {
            log.push(`${name} close`);
          },
        };
      },
      async dispose() {
        log.push(`${name} unload`);
      },
    };
  };
}

describe('bench runner', () => {
  it('warms up, restores before every repetition, alternates engines on the same tokens', async () => {
    const log: string[] = [];
    const results: TestResult[][] = [];
    await runBench({
      models: [model],
      options: parseBenchFlags({ nPrompt: ['4'], nGen: ['2'], nDepth: ['8'], repetitions: '2' }, 3),
      engines: [
        { name: 'petrel', open: fakeEngine('petrel', log) },
        { name: 'llama.cpp', open: fakeEngine('llama.cpp', log) },
      ],
      onTest: (r) => results.push(r),
    });
    const strip = (l: string) => l.replace(/ \[.*\]$/, '').replace(/ decode \d+$/, ' decode');
    expect(log.map(strip)).toEqual([
      'petrel load t3', 'llama.cpp load t3',
      'petrel open 12', 'petrel prompt 8', 'petrel mark 8', 'llama.cpp open 12', 'llama.cpp prompt 8', 'llama.cpp mark 8',
      // pp4 @ d8: warm-up, then two repetitions, alternating
      'petrel restore 8', 'petrel prompt 4', 'llama.cpp restore 8', 'llama.cpp prompt 4',
      'petrel restore 8', 'petrel prompt 4', 'llama.cpp restore 8', 'llama.cpp prompt 4',
      'petrel restore 8', 'petrel prompt 4', 'llama.cpp restore 8', 'llama.cpp prompt 4',
      // tg2 @ d8: one warm-up step, then 2 steps per repetition
      'petrel restore 8', 'petrel decode', 'llama.cpp restore 8', 'llama.cpp decode',
      'petrel restore 8', 'petrel decode', 'petrel decode', 'llama.cpp restore 8', 'llama.cpp decode', 'llama.cpp decode',
      'petrel restore 8', 'petrel decode', 'petrel decode', 'llama.cpp restore 8', 'llama.cpp decode', 'llama.cpp decode',
      'petrel close', 'llama.cpp close', 'petrel unload', 'llama.cpp unload',
    ]);
    // The same token ids for both engines, run for run.
    const tokensOf = (name: string) => log.filter((l) => l.startsWith(`${name} prompt`) || l.startsWith(`${name} decode`)).map((l) => l.split(' ').slice(1).join(' '));
    expect(tokensOf('petrel')).toEqual(tokensOf('llama.cpp'));
    expect(results.map((r) => r.map((x) => [x.facts.engine, x.test, x.samplesNs.length, x.ttftNs.length]))).toEqual([
      [['petrel', { nPrompt: 4, nGen: 0, nDepth: 8 }, 2, 2], ['llama.cpp', { nPrompt: 4, nGen: 0, nDepth: 8 }, 2, 2]],
      [['petrel', { nPrompt: 0, nGen: 2, nDepth: 8 }, 2, 2], ['llama.cpp', { nPrompt: 0, nGen: 2, nDepth: 8 }, 2, 2]],
    ]);
    expect(results[0]![0]!.testTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('--no-warmup skips the warm-up; each thread count loads the model again', async () => {
    const log: string[] = [];
    await runBench({
      models: [model],
      options: parseBenchFlags({ nPrompt: ['0'], nGen: ['1'], threads: ['1,2'], repetitions: '1', warmup: false }, 1),
      engines: [{ name: 'petrel', open: fakeEngine('petrel', log) }],
      onTest: () => {},
    });
    expect(log.map((l) => l.replace(/ \d+$/, ' N'))).toEqual([
      'petrel load t1', 'petrel open N', 'petrel mark N', 'petrel restore N', 'petrel decode N', 'petrel close', 'petrel unload',
      'petrel load t2', 'petrel open N', 'petrel mark N', 'petrel restore N', 'petrel decode N', 'petrel close', 'petrel unload',
    ]);
  });
});
