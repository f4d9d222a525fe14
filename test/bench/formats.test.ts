// Output formats against llama-bench's: the Markdown table layout, and the csv/json/jsonl field
// names, order and value types (tools written for llama-bench must read petrel's output). The
// field names and types come from llama.cpp's own llama-bench.cpp (test/support/llamaBench.ts).
import { describe, expect, it } from 'vitest';
import type { EngineFacts } from '../../src/bench/engine.js';
import { createPrinter } from '../../src/bench/formats/index.js';
import type { RecordLayout } from '../../src/bench/record.js';
import type { TestResult } from '../../src/bench/runner.js';
import { expectedBenchFields, llamaBenchLayout, parseLlamaBench } from '../support/llamaBench.js';

const petrelFacts: EngineFacts = {
  engine: 'petrel', buildCommit: 'abcdef12', buildNumber: 42, modelType: 'qwen35 0.8B Q4_K - Medium',
  modelSize: 521_548_800, kvType: 'f32', nBatch: 2048, nUbatch: 512, backend: 'CPU', gpuInfo: '', nGpuLayers: 0,
};
/** petrel's model on a Vulkan GPU: its 24 layers there. */
const vulkanFacts: EngineFacts = { ...petrelFacts, backend: 'Vulkan', gpuInfo: 'AMD Radeon RX 7900 XTX (RADV NAVI31)', nGpuLayers: 24 };
const llamaFacts: EngineFacts = { ...petrelFacts, engine: 'llama.cpp', buildCommit: 'b7000', buildNumber: 7000, kvType: 'f16', nBatch: 512 };
const model = { filename: 'models/q.gguf', type: 'qwen35 0.8B Q4_K - Medium', sizeBytes: 521_548_800, nParams: 752_393_024, nVocab: 248320 };

function result(facts: EngineFacts, nPrompt: number, nGen: number, samplesNs: number[], nDepth = 0): TestResult {
  return {
    facts, model, threads: 2, test: { nPrompt, nGen, nDepth }, testTime: '2026-01-02T03:04:05Z',
    samplesNs, ttftNs: samplesNs.map((n) => n / 4), loadNs: 1.5e9, peakRssBytes: 700 * 1024 * 1024,
  };
}

// pp512: 512 tokens in 2 s and 4 s -> 256 and 128 t/s (mean 192, sample stddev 90.51).
const pp = result(petrelFacts, 512, 0, [2e9, 4e9]);
const tg = result(petrelFacts, 0, 128, [1e9, 1e9], 16384);

function print(format: 'md' | 'json' | 'jsonl' | 'csv', tests: TestResult[][], layout: RecordLayout = { vs: false, extra: [] }): string {
  const p = createPrinter(format, layout);
  return p.header() + tests.map((t) => p.test(t)).join('') + p.footer();
}

const FIELDS = expectedBenchFields();

/** A json value of llama-bench's type for the field (json_printer's format_json_value). */
function hasLlamaBenchType(field: string, value: unknown): boolean {
  switch (llamaBenchLayout().types.get(field)) {
    case 'int': return Number.isInteger(value);
    case 'float': return typeof value === 'number';
    case 'bool': return typeof value === 'boolean';
    case 'string': return typeof value === 'string';
    default: return false;
  }
}

describe("llama-bench's record layout, from llama.cpp's source", () => {
  it('is read from get_fields() and get_field_type()', () => {
    const source = `struct test {
      static const std::vector<std::string> & get_fields() {
        static const std::vector<std::string> fields = { "a_int", "b_str",
            "c_bool", "d_float" };
        return fields;
      }
      enum field_type { STRING, BOOL, INT, FLOAT };
      static field_type get_field_type(const std::string & field) {
        if (field == "a_int" || field == "x") { return INT; }
        if (field == "c_bool") {
            return BOOL;
        }
        if (field == "d_float") { return FLOAT; }
        return STRING;
      }
    };`;
    const layout = parseLlamaBench(source);
    expect(layout.fields).toEqual(['a_int', 'b_str', 'c_bool', 'd_float']);
    expect(Object.fromEntries(layout.types)).toEqual({ a_int: 'int', b_str: 'string', c_bool: 'bool', d_float: 'float' });
  });

  it('of the bundled llama.cpp names the timing fields', () => {
    const { fields, types } = llamaBenchLayout();
    expect(fields.slice(-5)).toEqual(['test_time', 'avg_ns', 'stddev_ns', 'avg_ts', 'stddev_ts']);
    expect([types.get('avg_ns'), types.get('avg_ts'), types.get('test_time')]).toEqual(['int', 'float', 'string']);
  });
});

describe('bench output formats', () => {
  it('md: llama-bench table, columns, widths, alignment row and build footer', () => {
    expect(print('md', [[pp], [tg]])).toBe(
      [
        '| model                          |       size |     params | backend    | threads |            test |                  t/s |',
        '| ------------------------------ | ---------: | ---------: | ---------- | ------: | --------------: | -------------------: |',
        '| qwen35 0.8B Q4_K - Medium      | 497.39 MiB |   752.39 M | CPU        |       2 |           pp512 |       192.00 ± 90.51 |',
        '| qwen35 0.8B Q4_K - Medium      | 497.39 MiB |   752.39 M | CPU        |       2 |  tg128 @ d16384 |        128.00 ± 0.00 |',
        '',
        'build: abcdef12 (42)',
        '',
      ].join('\n'),
    );
  });

  it('md with --vs: an engine column, both rows and the ratio on petrel\'s row; --extra columns after t/s', () => {
    const peer = result(llamaFacts, 512, 0, [1e9, 1e9]); // 512 t/s
    const text = print('md', [[pp, peer]], { vs: true, extra: ['load', 'ttft', 'rss'] });
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      '| model                          |       size |     params | backend    | threads | engine     |            test |                  t/s |    load ms |    ttft ms |   peak RSS | vs llama.cpp |',
    );
    expect(lines[2]).toContain('| petrel     |           pp512 |       192.00 ± 90.51 |    1500.00 |     750.00 | 700.00 MiB |        0.38× |');
    expect(lines[3]).toContain('| llama.cpp  |           pp512 |        512.00 ± 0.00 |    1500.00 |     250.00 | 700.00 MiB |              |');
    expect(lines.slice(5)).toEqual(['build: abcdef12 (42)', 'llama.cpp: b7000 (7000), prebuilt CPU library of node-llama-cpp', '']);
  });

  it('json: an array of objects with llama-bench field names in order, typed values and samples', () => {
    const text = print('json', [[pp], [tg]]);
    expect(text.startsWith('[\n  {\n    "build_commit": "abcdef12",\n    "build_number": 42,\n')).toBe(true);
    const rows = JSON.parse(text) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    expect(Object.keys(rows[0]!)).toEqual([...FIELDS, 'samples_ns', 'samples_ts']);
    for (const row of rows) {
      const wrong = FIELDS.filter((f) => !hasLlamaBenchType(f, row[f])).map((f) => `${f}: ${JSON.stringify(row[f])} is not ${llamaBenchLayout().types.get(f)}`);
      expect(wrong).toEqual([]);
    }
    expect(rows[0]).toMatchObject({
      backends: 'CPU', gpu_info: '', model_filename: 'models/q.gguf', model_type: 'qwen35 0.8B Q4_K - Medium',
      model_size: 521548800, model_n_params: 752393024, n_batch: 2048, n_ubatch: 512, n_threads: 2, type_k: 'f32',
      n_prompt: 512, n_gen: 0, n_depth: 0, test_time: '2026-01-02T03:04:05Z', avg_ns: 3e9,
      avg_ts: 192, samples_ns: [2e9, 4e9], samples_ts: [256, 128],
    });
    expect(rows[0]!.stddev_ts as number).toBeCloseTo(90.509668, 5);
    expect(rows[1]).toMatchObject({ n_prompt: 0, n_gen: 128, n_depth: 16384, avg_ts: 128, stddev_ts: 0 });
    expect(text).toContain('    "avg_ts": 192.000000,\n');
  });

  it('json with --vs and --extra: engine, ratio and extra fields after llama-bench\'s', () => {
    const peer = result(llamaFacts, 512, 0, [1e9, 1e9]);
    const rows = JSON.parse(print('json', [[pp, peer]], { vs: true, extra: ['ttft', 'rss'] })) as Array<Record<string, unknown>>;
    expect(Object.keys(rows[0]!).slice(FIELDS.length)).toEqual(['engine', 'vs_llama_cpp', 'ttft_ms', 'peak_rss_bytes', 'samples_ns', 'samples_ts']);
    expect(rows[0]).toMatchObject({ engine: 'petrel', vs_llama_cpp: 0.375, ttft_ms: 750, peak_rss_bytes: 700 * 1024 * 1024 });
    expect(rows[1]).toMatchObject({ engine: 'llama.cpp', vs_llama_cpp: null, build_commit: 'b7000', type_k: 'f16', n_batch: 512 });
  });

  it('with --vram: md gets hit % and MB up/t after t/s, json the two offload fields after llama-bench\'s', () => {
    const sim = { ...result({ ...petrelFacts, backend: 'CPU+sim' }, 512, 0, [2e9, 4e9]), offload: { hitRate: 0.25, uploadBytesPerToken: 1.5e6 } };
    const layout: RecordLayout = { vs: false, extra: [], offload: true };
    const md = print('md', [[sim]], layout).split('\n');
    expect(md[0]).toMatch(/\| +t\/s \|   hit % \|  MB up\/t \|$/);
    expect(md[2]).toMatch(/\| CPU\+sim +\|/);
    expect(md[2]).toMatch(/\| +192\.00 ± 90\.51 \|    25\.0 \|     1\.50 \|$/);
    const rows = JSON.parse(print('json', [[sim]], layout)) as Array<Record<string, unknown>>;
    expect(Object.keys(rows[0]!).slice(FIELDS.length)).toEqual(['expert_hit_rate', 'upload_bytes_per_token', 'samples_ns', 'samples_ts']);
    expect(rows[0]).toMatchObject({ backends: 'CPU+sim', expert_hit_rate: 0.25, upload_bytes_per_token: 1.5e6 });
  });

  it('md on a GPU: backend as llama-bench names it and an ngl column after it, as llama-bench adds for a GPU backend', () => {
    const lines = print('md', [[result(vulkanFacts, 512, 0, [2e9, 4e9])]]).split('\n');
    expect(lines.slice(0, 3)).toEqual([
      '| model                          |       size |     params | backend    | ngl | threads |            test |                  t/s |',
      '| ------------------------------ | ---------: | ---------: | ---------- | --: | ------: | --------------: | -------------------: |',
      '| qwen35 0.8B Q4_K - Medium      | 497.39 MiB |   752.39 M | Vulkan     |  24 |       2 |           pp512 |       192.00 ± 90.51 |',
    ]);
  });

  it('md on a GPU with --vs: llama.cpp\'s row keeps its CPU backend and 0 layers', () => {
    const peer = result(llamaFacts, 512, 0, [1e9, 1e9]);
    const lines = print('md', [[result(vulkanFacts, 512, 0, [2e9, 4e9]), peer]], { vs: true, extra: [] }).split('\n');
    expect(lines[0]).toMatch(/^\| model +\| +size \| +params \| backend +\| ngl \| threads \| engine +\| +test \| +t\/s \| vs llama\.cpp \|$/);
    expect(lines[2]).toMatch(/\| Vulkan +\| +24 \| +2 \| petrel +\|/);
    expect(lines[3]).toMatch(/\| CPU +\| +0 \| +2 \| llama\.cpp +\|/);
  });

  it('the md header waits for the first rows: which columns there are depends on the backend that loaded', () => {
    const p = createPrinter('md', { vs: false, extra: [] });
    expect(p.header()).toBe('');
    const first = p.test([pp]);
    expect(first.split('\n')[0]).toMatch(/^\| model /);
    expect(p.test([pp]).split('\n')[0]).toMatch(/^\| qwen35 /);
  });

  it('json, jsonl and csv on a GPU: backends, gpu_info and n_gpu_layers from the model', () => {
    const gpu = result(vulkanFacts, 512, 0, [2e9, 4e9]);
    const want = { backends: 'Vulkan', gpu_info: 'AMD Radeon RX 7900 XTX (RADV NAVI31)', n_gpu_layers: 24 };
    const rows = JSON.parse(print('json', [[gpu]])) as Array<Record<string, unknown>>;
    expect(rows[0]).toMatchObject(want);
    expect(Object.keys(rows[0]!)).toEqual([...FIELDS, 'samples_ns', 'samples_ts']);
    expect(JSON.parse(print('jsonl', [[gpu]]).trimEnd())).toMatchObject(want);
    const [header, row] = print('csv', [[gpu]]).split('\n');
    const cells = row!.split('","').map((c) => c.replace(/^"|"$/g, ''));
    const at = (field: string) => cells[header!.split(',').indexOf(field)];
    expect([at('backends'), at('gpu_info'), at('n_gpu_layers')]).toEqual(['Vulkan', want.gpu_info, '24']);
    // On the CPU: no GPU, no layers on one (llama-bench's n_gpu_layers is an int).
    expect((JSON.parse(print('json', [[pp]])) as Array<Record<string, unknown>>)[0]).toMatchObject({ backends: 'CPU', gpu_info: '', n_gpu_layers: 0 });
  });

  it('jsonl: one complete object per line', () => {
    const lines = print('jsonl', [[pp], [tg]]).trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ n_prompt: 512, avg_ts: 192, samples_ts: [256, 128] });
  });

  it('csv: a header of field names, every value quoted, bools as 0/1', () => {
    const [header, row1, row2, end] = print('csv', [[pp], [tg]]).split('\n');
    expect(header).toBe(FIELDS.join(','));
    const cells = row1!.split('","').map((c) => c.replace(/^"|"$/g, ''));
    const at = (field: string) => cells[FIELDS.indexOf(field)];
    expect(at('model_type')).toBe('qwen35 0.8B Q4_K - Medium');
    for (const f of FIELDS.filter((f) => llamaBenchLayout().types.get(f) === 'bool')) expect(['0', '1'], f).toContain(at(f));
    expect(at('avg_ts')).toBe('192.000000');
    expect(at('avg_ns')).toBe('3000000000');
    expect(row2).toContain('"16384"');
    expect(end).toBe('');
  });
});
