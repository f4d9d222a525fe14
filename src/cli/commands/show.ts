// `petrel show <model>`: what a GGUF file holds, for people (a table) or scripts (--json).
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadNative } from '../../engine/native.js';
import { resolveLocalModel } from '../../store/local.js';
import { compactPattern, summarizeModel, type ModelSummary } from '../../gguf/modelSummary.js';
import { formatBytes, formatCount } from '../format.js';

export function registerShowCommand(program: Command): void {
  program
    .command('show')
    .description('show a model: architecture, layer pattern, parameters, tensor types, context, tokenizer')
    .argument('<model>', 'a pulled model (alias, hf: reference, URL) or a path to a .gguf file (the first part of a split model opens all parts)')
    .option('--json', 'print one JSON object instead of a table')
    .action((model: string, opts: { json?: boolean }) => {
      const report = inspectModel(resolveLocalModel(model));
      process.stdout.write(opts.json ? JSON.stringify(report, bigintToNumber, 2) + '\n' : renderShow(report));
    });
}

export interface ShowReport extends ModelSummary {
  paths: string[];
  fileBytes: number;
  ggufVersion: number;
}

/** `file` is an existing path: the command resolves the reference first (resolveLocalModel checks it). */
export function inspectModel(file: string): ShowReport {
  const gguf = loadNative().openGguf(file);
  try {
    const summary = summarizeModel(gguf.metadata(), gguf.tensors());
    // Every part of a split model counts; a single file is its own only part.
    const fileBytes = gguf.paths.reduce((sum, p) => sum + statSync(p).size, 0);
    return { ...summary, paths: gguf.paths, fileBytes, ggufVersion: gguf.version };
  } finally {
    gguf.close();
  }
}

const ARCH_NAMES: Record<string, string> = {
  qwen35: 'Qwen3.5 (dense)',
  qwen35moe: 'Qwen3.5 MoE',
  qwen3next: 'Qwen3-Next',
  qwen3: 'Qwen3',
  qwen3moe: 'Qwen3 MoE',
};

export function renderShow(r: ShowReport): string {
  const rows: Array<[string, string]> = [];
  rows.push(['architecture', `${r.architecture}${ARCH_NAMES[r.architecture] ? ` — ${ARCH_NAMES[r.architecture]}` : ''}`]);
  if (r.name) rows.push(['name', r.name]);
  rows.push([
    'parameters',
    formatCount(r.parameters) + (r.activeParameters !== undefined ? ` (${formatCount(r.activeParameters)} active per token)` : ''),
  ]);
  const l = r.layers;
  const parts = [`${l.nLayer}`];
  if (l.deltaNetLayers > 0) parts.push(`${l.deltaNetLayers} Gated DeltaNet + ${l.attentionLayers} attention`);
  rows.push(['layers', `${parts.join(': ')}  ${compactPattern(l.kinds)}  [${l.source}]`]);
  if (l.nNextn > 0) rows.push(['mtp blocks', `${l.nNextn} (draft head, not run for logits)`]);
  if (r.embeddingLength !== undefined) rows.push(['embedding', String(r.embeddingLength)]);
  if (r.heads) rows.push(['attention', `${r.heads.q} query / ${r.heads.kv} kv heads × ${r.heads.headDim}`]);
  if (r.deltaNet) {
    const d = r.deltaNet;
    rows.push(['deltanet', `${d.keyHeads} key / ${d.valueHeads} value heads, state ${d.stateSize}, conv ${d.convKernel}`]);
  }
  if (r.experts) {
    const e = r.experts;
    const ff = e.feedForward !== undefined ? `, expert ff ${e.feedForward}` : '';
    const sh = e.sharedFeedForward !== undefined ? `, shared ff ${e.sharedFeedForward}` : '';
    rows.push(['experts', `${e.count}, ${e.used} per token${ff}${sh}`]);
  }
  if (r.contextLength !== undefined) rows.push(['context', r.contextLength.toLocaleString('en-US') + ' tokens']);
  rows.push(['output head', r.tiedOutput ? 'tied to token_embd' : 'separate (output.weight)']);
  if (r.fileType) rows.push(['file type', r.fileType]);
  const types = Object.entries(r.tensorTypes)
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([name, t]) => `${name} ×${t.tensors} (${formatBytes(t.bytes)})`)
    .join(', ');
  rows.push(['tensors', `${r.tensorCount}: ${types}`]);
  if (r.tokenizer) {
    const t = r.tokenizer;
    const pre = t.pre ? `/${t.pre}` : '';
    const eos = t.eos !== undefined ? `, eos ${t.eos}` : '';
    const bos = t.bos !== undefined ? `, bos ${t.bos}` : '';
    rows.push(['tokenizer', `${t.model}${pre}, ${t.vocabSize.toLocaleString('en-US')} tokens${bos}${eos}`]);
  } else {
    rows.push(['tokenizer', 'none']);
  }
  rows.push(['chat template', r.chatTemplate ? 'yes' : 'no']);
  rows.push(['file', `${r.paths.join(', ')} (${formatBytes(r.fileBytes)}, GGUF v${r.ggufVersion})`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

function bigintToNumber(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value;
}
