// SCRATCH (conditioning experiments) — delete when done.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'vitest';
import { loadModel } from '../src/engine/index.js';
import { loadNative, type GgufWriteSpec } from '../src/engine/native.js';
import { buildSynthModel } from '../src/synth/index.js';
import { buildExtraArchSpec, type ExtraArch } from './fixtures/extraArchs.js';
import { klDivergence, logSoftmax, openOracle } from './support/llamaOracle.js';
import { LlamaFtype, llamaQuantize } from './support/llamaQuantize.js';

const CFG: Record<string, number> = JSON.parse(process.env.CFG ?? '{}');
const MODELS = (process.env.MODELS ?? 'tiny').split(',');
const TYPES = (process.env.TYPES ?? 'q8_0,q4_k_m').split(',');
const GREEDY = Number(process.env.GREEDY ?? 0);

function mutate(spec: GgufWriteSpec): void {
  if (!CFG || Object.keys(CFG).length === 0) return;
  for (const t of spec.tensors) {
    const s = t.source as { kind: string; mean: number; std: number; transform?: string };
    if (s.kind !== 'random') continue;
    const n = t.name;
    const fan = t.shape[0]!;
    const set = (key: string, f: (v: number) => void) => {
      if (CFG[key] !== undefined) f(CFG[key]!);
    };
    if (n === 'token_embd.weight') { set('embd', (v) => (s.std = v / Math.sqrt(fan))); set('embdAbs', (v) => (s.std = v)); }
    else if (n === 'output_norm.weight') { set('onMean', (v) => (s.mean = v)); set('onStd', (v) => (s.std = v)); }
    else if (n === 'output.weight') set('head', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/(attn_output|ssm_out|ffn_down(_exps|_shexp)?)\.weight$/.test(n)) set('out', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/ffn_gate_inp\.weight$/.test(n)) set('router', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/ffn_gate_inp_shexp\.weight$/.test(n)) set('shgate', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/(q_norm|k_norm)\.weight$/.test(n)) set('qknorm', (v) => (s.std = v));
    else if (/norm\.weight$/.test(n)) set('norm', (v) => (s.std = v));
    else if (/ssm_dt\.bias$/.test(n)) { set('dtMean', (v) => (s.mean = v)); set('dtStd', (v) => (s.std = v)); }
    else if (/ssm_a$/.test(n)) { set('aMean', (v) => (s.mean = v)); set('aStd', (v) => (s.std = v)); }
    else if (/ssm_conv1d\.weight$/.test(n)) set('conv', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/(ssm_alpha|ssm_beta|ssm_ba)\.weight$/.test(n)) set('ab', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/attn_v\.weight$/.test(n)) set('v', (v) => (s.std = v / Math.sqrt(fan)));
    else if (/(attn_q|attn_k)\.weight$/.test(n)) set('qk', (v) => (s.std = v / Math.sqrt(fan)));
    else if (t.shape.length >= 2) set('in', (v) => (s.std = v / Math.sqrt(fan)));
  }
}

function specFor(label: string): GgufWriteSpec {
  if (label.startsWith('tiny')) {
    const seed = { tiny: 11, 'tiny-moe': 12, 'tiny-r3': 13 }[label]!;
    return buildSynthModel(label, { type: 'f32', seed }).spec;
  }
  return buildExtraArchSpec(label as ExtraArch, { seed: 14 });
}

function prompts(nVocab: number): number[][] {
  let state = 0x9e3779b9;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const range = Math.min(nVocab, 400);
  return [5, 17, 40].map((len) => Array.from({ length: len }, () => next() % range));
}

async function llamaRows(file: string, ps: number[][], opts = {}): Promise<Float64Array[]> {
  const o = await openOracle(file, opts);
  const rows: Float64Array[] = [];
  for (const p of ps) for (const r of await o.logits(p)) rows.push(logSoftmax(r));
  await o.dispose();
  return rows;
}
async function petrelRows(file: string, ps: number[][]): Promise<Float64Array[]> {
  const m = await loadModel(file, { threads: 2 });
  const rows: Float64Array[] = [];
  const nV = m.info.nVocab;
  for (const p of ps) {
    const s = m.createSession({ contextLength: 256 });
    const l = (await s.evaluate(p, { logits: 'all' }))!;
    s.dispose();
    for (let t = 0; t < p.length; t++) rows.push(logSoftmax(l.subarray(t * nV, (t + 1) * nV)));
  }
  m.dispose();
  return rows;
}
const meanKl = (a: Float64Array[], b: Float64Array[]) => a.reduce((s, r, i) => s + klDivergence(r, b[i]!), 0) / a.length;
function entropy(rows: Float64Array[]): number {
  let s = 0;
  for (const r of rows) for (const v of r) s -= Math.exp(v) * v;
  return s / rows.length;
}
const fmt = (x: number) => x.toExponential(1);

it('conditioning', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'petrel-cond-'));
  try {
    for (const label of MODELS) {
      const spec = specFor(label);
      mutate(spec);
      const f32 = path.join(dir, `${label}-f32.gguf`);
      await loadNative().writeGguf(f32, spec);
      const nVocab = (await openOracle(f32)).nVocab;
      const ps = prompts(nVocab);
      const ref = await llamaRows(f32, ps);
      const ent = entropy(ref);
      let line = `${label.padEnd(9)} H=${ent.toFixed(2)}/${Math.log(nVocab).toFixed(2)}`;
      const f32p = await petrelRows(f32, ps);
      line += ` f32:pl=${fmt(meanKl(ref, f32p))}`;
      for (const type of TYPES) {
        const q = path.join(dir, `${label}-${type}.gguf`);
        llamaQuantize(f32, q, type === 'q8_0' ? LlamaFtype.MOSTLY_Q8_0 : LlamaFtype.MOSTLY_Q4_K_M);
        const lq = await llamaRows(q, ps);
        const lqn = await llamaRows(q, ps, { kvCache: 'f16', flashAttention: true });
        const pq = await petrelRows(q, ps);
        line += ` | ${type}: self=${fmt(meanKl(lq, lqn))} quant=${fmt(meanKl(ref, lq))} pl=${fmt(meanKl(lq, pq))}`;
        if (GREEDY) {
          const o = await openOracle(q);
          const m = await loadModel(q, { threads: 2 });
          for (const p of ps.slice(0, 2)) {
            const g = await o.greedy(p, 64);
            const s = m.createSession({ contextLength: 256 });
            await s.prefill(p);
            const ours: number[] = [];
            for await (const tok of s.generate({ maxTokens: 64, sampling: { temperature: 0 } })) ours.push(tok);
            s.dispose();
            const first = ours.findIndex((tok, i) => tok !== g.tokens[i]);
            const distinct = new Set(g.tokens).size;
            line += ` g[d=${distinct},first=${first}${first >= 0 ? ',gap=' + g.gaps[first]!.toFixed(3) : ''},mingap=${Math.min(...g.gaps).toFixed(3)}]`;
          }
          m.dispose();
          await o.dispose();
        }
      }
      console.log(line);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 1_200_000);
