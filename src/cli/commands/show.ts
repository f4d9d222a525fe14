// `petrel show <model>`: what a GGUF file holds, for people (a table) or scripts (--json).
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadNative, type GgufArray, type GgufKv, type GgufScalar } from '../../native/index.js';
import { UserError } from '../../errors.js';
import { resolveLocalModel } from '../../store/local.js';
import { compactPattern, summarizeModel, type ModelSummary } from '../../gguf/modelSummary.js';
import { formatBytes, formatCount } from '../../format/numbers.js';

export function registerShowCommand(program: Command): void {
  program
    .command('show')
    .description('show a model: architecture, layer pattern, parameters, tensor types, context, tokenizer')
    .argument('<model>', 'a pulled model (alias, hf: reference, URL) or a path to a .gguf file (the first part of a split model opens all parts)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--template', 'print the chat template run and chat use (the file\'s own, else the built-in Qwen3.5 one)')
    .option('--metadata', 'print every metadata key with its type and value (long arrays and strings shortened; --json: all of it)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  petrel show model.gguf\n' +
        '  petrel show qwen3.5:0.8b --json | jq .contextLength\n' +
        '  petrel show model.gguf --template\n' +
        '  petrel show model.gguf --metadata | grep rope\n',
    )
    .action(async (model: string, opts: { json?: boolean; template?: boolean; metadata?: boolean }) => {
      if (opts.template && opts.metadata) throw new UserError('--template and --metadata print different things; pass one of them', 'ERR_USER_ARGS');
      const file = resolveLocalModel(model);
      if (opts.template) {
        process.stdout.write(await chatTemplateOf(file, opts.json ?? false));
        return;
      }
      if (opts.metadata) {
        const kvs = readMetadata(file);
        process.stdout.write(opts.json ? JSON.stringify(Object.fromEntries(kvs.map((kv) => [kv.key, plain(kv.value)])), bigintToNumber, 2) + '\n' : renderMetadata(kvs));
        return;
      }
      const report = inspectModel(file);
      process.stdout.write(opts.json ? JSON.stringify(report, bigintToNumber, 2) + '\n' : renderShow(report));
    });
}

function readMetadata(file: string): GgufKv[] {
  const gguf = loadNative().openGguf(file);
  try {
    return gguf.metadata();
  } finally {
    gguf.close();
  }
}

async function chatTemplateOf(file: string, json: boolean): Promise<string> {
  const own = readMetadata(file).find((kv) => kv.key === 'tokenizer.chat_template')?.value;
  const { QWEN35_CHAT_TEMPLATE } = await import('../../templates/index.js');
  const template = typeof own === 'string' ? own : QWEN35_CHAT_TEMPLATE;
  if (json) return JSON.stringify({ source: typeof own === 'string' ? 'file' : 'built-in', template }) + '\n';
  if (typeof own !== 'string') process.stderr.write('petrel: the file has no chat template; this is the built-in Qwen3.5 template run and chat use\n');
  return template.endsWith('\n') ? template : template + '\n';
}

/** A GGUF array as plain nested JavaScript arrays. */
function plain(value: GgufKv['value']): unknown {
  if (!Array.isArray(value)) return value;
  return (value as Array<GgufScalar | GgufArray>).map((v) => (typeof v === 'object' && v !== null && 'itemType' in v ? plain(v.value) : v));
}

const SHOWN_ITEMS = 8;
const SHOWN_CHARS = 120;

function scalarText(v: unknown): string {
  if (typeof v === 'string') {
    const s = JSON.stringify(v.length > SHOWN_CHARS ? v.slice(0, SHOWN_CHARS) : v);
    return v.length > SHOWN_CHARS ? `${s}… (${v.length.toLocaleString('en-US')} chars)` : s;
  }
  return String(v);
}

export function renderMetadata(kvs: GgufKv[]): string {
  const width = Math.max(...kvs.map((kv) => kv.key.length));
  const typeOf = (kv: GgufKv) => (kv.type === 'arr' ? `arr[${kv.itemType ?? '?'}]` : kv.type);
  const typeWidth = Math.max(...kvs.map((kv) => typeOf(kv).length));
  return (
    kvs
      .map((kv) => {
        let text: string;
        if (Array.isArray(kv.value)) {
          const items = plain(kv.value) as unknown[];
          const shown = items.slice(0, SHOWN_ITEMS).map((v) => (Array.isArray(v) ? `[${v.length} items]` : scalarText(v)));
          text = `[${shown.join(', ')}${items.length > SHOWN_ITEMS ? `, … ${items.length.toLocaleString('en-US')} items` : ''}]`;
        } else if (kv.type === 'f32' && typeof kv.value === 'number') {
          // The float32 as written (0.000001), not its float64 widening (9.999999974752427e-7).
          text = String(Number(kv.value.toPrecision(7)));
        } else {
          text = scalarText(kv.value);
        }
        return `${kv.key.padEnd(width)}  ${typeOf(kv).padEnd(typeWidth)}  ${text}`;
      })
      .join('\n') + '\n'
  );
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
