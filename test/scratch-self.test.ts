// SCRATCH — delete when done.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'vitest';
import { loadNative } from '../src/engine/native.js';
import { buildExtraArchSpec, type ExtraArch } from './fixtures/extraArchs.js';
import { buildSynthModel } from '../src/synth/index.js';
import { LlamaFtype, llamaQuantize } from './support/llamaQuantize.js';
import { klDivergence, logSoftmax, openOracle } from './support/llamaOracle.js';

it('self', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'petrel-self-'));
  const label = process.env.M ?? 'qwen3';
  const spec = label.startsWith('tiny') ? buildSynthModel(label, { type: 'f32', seed: 11 }).spec : buildExtraArchSpec(label as ExtraArch, { seed: 14 });
  const f = path.join(dir, 'm.gguf');
  await loadNative().writeGguf(f + '.f32', spec);
  llamaQuantize(f + '.f32', f, process.env.Q === 'q4' ? LlamaFtype.MOSTLY_Q4_K_M : LlamaFtype.MOSTLY_Q8_0);
  let state = 0x9e3779b9;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0), state);
  const p = Array.from({ length: 40 }, () => next() % 400);
  const rows = async (opts: object) => { const o = await openOracle(f, opts); const r = (await o.logits(p)).map(logSoftmax); await o.dispose(); return r; };
  const base = await rows({});
  for (const opts of [{ kvCache: 'f16' }, { flashAttention: true }, { kvCache: 'f16', flashAttention: true }, { threads: 1 }]) {
    const r = await rows(opts);
    console.log(JSON.stringify(opts), r.map((x, i) => klDivergence(base[i]!, x).toExponential(0)).join(' '));
  }
  rmSync(dir, { recursive: true, force: true });
}, 600000);
