// A test result as llama-bench's record: its field names, order and value types, so tools written
// for llama-bench's csv/json (compare-llama-bench.py, dashboards) read petrel's. petrel's additions
// come after llama-bench's fields and only when asked for: the engine and ratio with --vs, load
// time, time to first token and peak RSS with --extra.
import type { ExtraColumn } from './args.js';
import { cpuInfo } from './machine.js';
import type { TestResult } from './runner.js';
import { mean, sampleStddev, tokensPerSecond } from './stats.js';

export type FieldValue = string | number | boolean | null;
export type FieldType = 'string' | 'int' | 'float' | 'bool';

/** llama-bench's fields that mean something for petrel, in llama-bench's order. */
export const LLAMA_BENCH_FIELDS: ReadonlyArray<[string, FieldType]> = [
  ['build_commit', 'string'],
  ['build_number', 'int'],
  ['cpu_info', 'string'],
  ['gpu_info', 'string'],
  ['backends', 'string'],
  ['model_filename', 'string'],
  ['model_type', 'string'],
  ['model_size', 'int'],
  ['model_n_params', 'int'],
  ['n_batch', 'int'],
  ['n_ubatch', 'int'],
  ['n_threads', 'int'],
  ['type_k', 'string'],
  ['type_v', 'string'],
  ['n_gpu_layers', 'int'],
  ['load_mode', 'string'],
  ['n_prompt', 'int'],
  ['n_gen', 'int'],
  ['n_depth', 'int'],
  ['test_time', 'string'],
  ['avg_ns', 'int'],
  ['stddev_ns', 'int'],
  ['avg_ts', 'float'],
  ['stddev_ts', 'float'],
];

const VS_FIELDS: ReadonlyArray<[string, FieldType]> = [
  ['engine', 'string'],
  /** petrel's avg_ts / the peer's, on petrel's rows. */
  ['vs_llama_cpp', 'float'],
];

const EXTRA_FIELDS: Record<ExtraColumn, [string, FieldType]> = {
  load: ['load_ms', 'float'],
  ttft: ['ttft_ms', 'float'],
  rss: ['peak_rss_bytes', 'int'],
};

/** With --vram: the expert-cache hit rate over the timed runs, and bytes copied to the device per token. */
const OFFLOAD_FIELDS: ReadonlyArray<[string, FieldType]> = [
  ['expert_hit_rate', 'float'],
  ['upload_bytes_per_token', 'float'],
];

export interface RecordLayout {
  vs: boolean;
  extra: ExtraColumn[];
  offload?: boolean;
}

export function recordFields(layout: RecordLayout): Array<[string, FieldType]> {
  return [
    ...LLAMA_BENCH_FIELDS,
    ...(layout.vs ? VS_FIELDS : []),
    ...layout.extra.map((c) => EXTRA_FIELDS[c]),
    ...(layout.offload ? OFFLOAD_FIELDS : []),
  ];
}

export interface BenchRecord {
  values: Map<string, FieldValue>;
  samplesNs: number[];
  samplesTs: number[];
}

/** The record of one engine's result; `peer` is the peer's result for the same test (ratio). */
export function toRecord(r: TestResult, layout: RecordLayout, peer?: TestResult): BenchRecord {
  const samplesTs = tokensPerSecond(r.test.nPrompt + r.test.nGen, r.samplesNs);
  const avgTs = mean(samplesTs);
  const v = new Map<string, FieldValue>([
    ['build_commit', r.facts.buildCommit],
    ['build_number', r.facts.buildNumber],
    ['cpu_info', cpuInfo()],
    ['gpu_info', r.facts.gpuInfo],
    ['backends', r.facts.backend],
    ['model_filename', r.model.filename],
    ['model_type', r.facts.modelType],
    ['model_size', r.facts.modelSize],
    ['model_n_params', r.model.nParams],
    ['n_batch', r.facts.nBatch],
    ['n_ubatch', r.facts.nUbatch],
    ['n_threads', r.threads],
    ['type_k', r.facts.kvType],
    ['type_v', r.facts.kvType],
    ['n_gpu_layers', r.facts.nGpuLayers],
    ['load_mode', 'mmap'],
    ['n_prompt', r.test.nPrompt],
    ['n_gen', r.test.nGen],
    ['n_depth', r.test.nDepth],
    ['test_time', r.testTime],
    ['avg_ns', Math.round(mean(r.samplesNs))],
    ['stddev_ns', Math.round(sampleStddev(r.samplesNs))],
    ['avg_ts', avgTs],
    ['stddev_ts', sampleStddev(samplesTs)],
  ]);
  if (layout.vs) {
    v.set('engine', r.facts.engine);
    const peerTs = peer ? mean(tokensPerSecond(peer.test.nPrompt + peer.test.nGen, peer.samplesNs)) : 0;
    v.set('vs_llama_cpp', peer && peerTs > 0 ? avgTs / peerTs : null);
  }
  for (const c of layout.extra) {
    if (c === 'load') v.set('load_ms', r.loadNs / 1e6);
    if (c === 'ttft') v.set('ttft_ms', mean(r.ttftNs) / 1e6);
    if (c === 'rss') v.set('peak_rss_bytes', r.peakRssBytes);
  }
  if (layout.offload) {
    v.set('expert_hit_rate', r.offload ? r.offload.hitRate : null);
    v.set('upload_bytes_per_token', r.offload ? r.offload.uploadBytesPerToken : null);
  }
  return { values: v, samplesNs: r.samplesNs, samplesTs };
}

/** Records of one test: petrel's (with the ratio when a peer ran), then the peer's. */
export function testRecords(results: TestResult[], layout: RecordLayout): BenchRecord[] {
  const [own, peer] = results;
  return results.map((r) => toRecord(r, layout, r === own ? peer : undefined));
}
