// llama-bench's Markdown table, column for column on a CPU backend:
//   | model | size | params | backend | threads | test | t/s |
// with its widths (negative = left-aligned), its "---:" alignment row, "mean ± stddev" t/s and the
// "build: <commit> (<number>)" footer. When petrel's model runs on a GPU, an ngl column follows
// backend, as llama-bench adds it for a GPU backend (threads stays: llama-bench keeps it when -t
// is given, and a llama.cpp peer row runs on the CPU). Which one is known once the first model
// has loaded (--device auto), so the header is printed with the first test's rows. --vs adds an
// engine column before test and a ratio column at the end (on petrel's row); --extra adds its
// columns after t/s, --vram the expert-cache hit rate and MB uploaded per token after those.
import type { EngineFacts } from '../engine.js';
import { testRecords, type RecordLayout } from '../record.js';
import type { TestResult } from '../runner.js';
import { mean, sampleStddev, tokensPerSecond } from '../stats.js';
import { testName } from '../testPlan.js';
import type { BenchPrinter } from './printer.js';

interface Column {
  title: string;
  /** llama-bench's printf width: > 0 right-aligned, < 0 left-aligned. */
  width: number;
  value: (r: TestResult, ratio: number | null) => string;
}

export function formatSize(bytes: number): string {
  return bytes < 1024 ** 3 ? `${(bytes / 1024 ** 2).toFixed(2)} MiB` : `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatParams(n: number): string {
  return n < 1e9 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e9).toFixed(2)} B`;
}

function tsOf(r: TestResult): number[] {
  return tokensPerSecond(r.test.nPrompt + r.test.nGen, r.samplesNs);
}

/** llama-bench's test of a CPU backend (is_cpu_backend in its markdown printer). */
export function isCpuBackend(backend: string): boolean {
  return ['CPU', 'BLAS', 'ZenDNN'].some((name) => backend.includes(name));
}

function columns(layout: RecordLayout, gpu: boolean): Column[] {
  const cols: Column[] = [
    { title: 'model', width: -30, value: (r) => r.facts.modelType },
    { title: 'size', width: 10, value: (r) => formatSize(r.facts.modelSize) },
    { title: 'params', width: 10, value: (r) => formatParams(r.model.nParams) },
    { title: 'backend', width: -10, value: (r) => r.facts.backend },
  ];
  if (gpu) cols.push({ title: 'ngl', width: 3, value: (r) => String(r.facts.nGpuLayers) });
  cols.push({ title: 'threads', width: 7, value: (r) => String(r.threads) });
  if (layout.vs) cols.push({ title: 'engine', width: -10, value: (r) => r.facts.engine });
  cols.push({ title: 'test', width: 15, value: (r) => testName(r.test) });
  cols.push({
    title: 't/s',
    width: 20,
    value: (r) => `${mean(tsOf(r)).toFixed(2)} ± ${sampleStddev(tsOf(r)).toFixed(2)}`,
  });
  for (const c of layout.extra) {
    if (c === 'load') cols.push({ title: 'load ms', width: 10, value: (r) => (r.loadNs / 1e6).toFixed(2) });
    if (c === 'ttft') cols.push({ title: 'ttft ms', width: 10, value: (r) => (mean(r.ttftNs) / 1e6).toFixed(2) });
    if (c === 'rss') cols.push({ title: 'peak RSS', width: 10, value: (r) => formatSize(r.peakRssBytes) });
  }
  if (layout.offload) {
    const pct = (r: TestResult) => (r.offload ? `${(100 * r.offload.hitRate).toFixed(1)}` : '');
    const mb = (r: TestResult) => (r.offload ? (r.offload.uploadBytesPerToken / 1e6).toFixed(2) : '');
    cols.push({ title: 'hit %', width: 7, value: pct }, { title: 'MB up/t', width: 8, value: mb });
  }
  if (layout.vs) cols.push({ title: 'vs llama.cpp', width: 12, value: (_r, ratio) => (ratio === null ? '' : `${ratio.toFixed(2)}×`) });
  return cols;
}

function cell(text: string, width: number): string {
  return width < 0 ? text.padEnd(-width) : text.padStart(width);
}

function header(cols: Column[]): string {
  const titles = '|' + cols.map((c) => ` ${cell(c.title, c.width)} |`).join('');
  const rule = '|' + cols.map((c) => ` ${'-'.repeat(Math.abs(c.width) - 1)}${c.width > 0 ? ':' : '-'} |`).join('');
  return `${titles}\n${rule}\n`;
}

export function markdownPrinter(layout: RecordLayout): BenchPrinter {
  let cols: Column[] | undefined;
  const builds = new Map<string, EngineFacts>();
  return {
    header: () => '',
    test(results) {
      let out = '';
      if (!cols) {
        // petrel's row comes first; its backend decides the ngl column for the whole table.
        cols = columns(layout, results.length > 0 && !isCpuBackend(results[0]!.facts.backend));
        out = header(cols);
      }
      const table = cols;
      const records = testRecords(results, layout);
      return (
        out +
        results
          .map((r, i) => {
            builds.set(r.facts.engine, r.facts);
            const ratio = records[i]!.values.get('vs_llama_cpp');
            return '|' + table.map((c) => ` ${cell(c.value(r, typeof ratio === 'number' ? ratio : null), c.width)} |`).join('') + '\n';
          })
          .join('')
      );
    },
    footer() {
      const own = builds.get('petrel');
      let out = `\nbuild: ${own?.buildCommit ?? 'unknown'} (${own?.buildNumber ?? 0})\n`;
      const peer = builds.get('llama.cpp');
      if (peer) out += `llama.cpp: ${peer.buildCommit} (${peer.buildNumber}), prebuilt CPU library of node-llama-cpp\n`;
      return out;
    },
  };
}
