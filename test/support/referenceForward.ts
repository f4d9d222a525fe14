// A plain, slow float64 forward pass of the Qwen3.5 family, written directly from
// docs/MODEL.md and docs/GGUF.md#converter-conventions (the GGUF conventions). It is the engine's
// independent oracle: no code is shared with native/, and every step is the textbook formula.
//
// Supported GGUF archs: qwen35, qwen35moe (tiled V→K head mapping), qwen3next (grouped mapping,
// fused ssm_ba), qwen3, qwen3moe (attention-only, ungated, full-dim RoPE).
import type { GgufKv, NativeGguf } from '../../src/native/index.js';

type Vec = Float64Array;

/** A weight matrix in GGUF order: `rows` rows of length `cols` (ne0 = cols). */
interface Matrix {
  cols: number;
  rows: number;
  data: Float64Array;
}

export interface ReferenceModel {
  arch: string;
  logits(tokens: number[]): Float64Array[];
}

export function loadReferenceModel(gguf: NativeGguf): ReferenceModel {
  const meta = new Map<string, GgufKv>(gguf.metadata().map((kv) => [kv.key, kv]));
  const arch = String(meta.get('general.architecture')?.value);
  const num = (key: string, fallback?: number): number => {
    const v = meta.get(`${arch}.${key}`)?.value;
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    if (fallback === undefined) throw new Error(`reference: missing ${arch}.${key}`);
    return fallback;
  };
  const infos = new Map(gguf.tensors().map((t) => [t.name, t]));
  const cache = new Map<string, Float64Array>();
  const raw = (name: string): Float64Array => {
    let v = cache.get(name);
    if (!v) {
      if (!infos.has(name)) throw new Error(`reference: missing tensor ${name}`);
      v = Float64Array.from(gguf.dequantize(name));
      cache.set(name, v);
    }
    return v;
  };
  const has = (name: string) => infos.has(name);
  const matrix = (name: string): Matrix => {
    const shape = infos.get(name)?.shape;
    if (!shape) throw new Error(`reference: missing tensor ${name}`);
    return { cols: shape[0]!, rows: shape.slice(1).reduce((a, b) => a * b, 1), data: raw(name) };
  };

  const hybrid = arch === 'qwen35' || arch === 'qwen35moe' || arch === 'qwen3next';
  const nLayer = num('block_count') - num('nextn_predict_layers', 0);
  const nEmbd = num('embedding_length');
  const nHead = num('attention.head_count');
  const nHeadKv = num('attention.head_count_kv', nHead);
  const headDim = num('attention.key_length', nEmbd / nHead);
  const nRot = num('rope.dimension_count', headDim);
  const ropeBase = num('rope.freq_base', 10000);
  const eps = num('attention.layer_norm_rms_epsilon');
  const interval = num('full_attention_interval', 4);
  const recurrentFlags = meta.get(`${arch}.attention.recurrent_layers`)?.value as boolean[] | undefined;
  const isRecurrent = (il: number) =>
    hybrid && (recurrentFlags ? Boolean(recurrentFlags[il]) : (il + 1) % interval !== 0);
  const nExpertUsed = num('expert_used_count', 0);
  // Gated attention (query + output gate interleaved per head) in the hybrid archs only.
  const gatedAttention = hybrid;
  const ffnNormName = hybrid ? 'post_attention_norm' : 'ffn_norm';

  const embd = matrix('token_embd.weight');
  const output = has('output.weight') ? matrix('output.weight') : embd;

  function logits(tokens: number[]): Float64Array[] {
    const T = tokens.length;
    let h: Vec[] = tokens.map((tok) => embd.data.slice(tok * nEmbd, (tok + 1) * nEmbd));
    for (let il = 0; il < nLayer; il++) {
      const p = `blk.${il}.`;
      const normed = h.map((x) => rmsNorm(x, raw(p + 'attn_norm.weight'), eps));
      const mixed = isRecurrent(il) ? deltaNet(p, normed) : attention(p, normed);
      h = h.map((x, t) => add(x, mixed[t]!));
      const f = h.map((x) => rmsNorm(x, raw(p + ffnNormName + '.weight'), eps));
      h = h.map((x, t) => add(x, ffn(p, f[t]!)));
    }
    void T;
    return h.map((x) => matVec(output, rmsNorm(x, raw('output_norm.weight'), eps)));
  }

  // ---- gated full attention (docs/MODEL.md#gated-full-attention) ------------------------------------
  function attention(p: string, xs: Vec[]): Vec[] {
    const wq = matrix(p + 'attn_q.weight');
    const wk = matrix(p + 'attn_k.weight');
    const wv = matrix(p + 'attn_v.weight');
    const wo = matrix(p + 'attn_output.weight');
    const qNorm = raw(p + 'attn_q_norm.weight');
    const kNorm = raw(p + 'attn_k_norm.weight');
    const qs: Vec[][] = [];
    const gates: Vec[][] = [];
    const ks: Vec[][] = [];
    const vs: Vec[][] = [];
    xs.forEach((x, pos) => {
      const qg = matVec(wq, x);
      const k = matVec(wk, x);
      const v = matVec(wv, x);
      const qh: Vec[] = [];
      const gh: Vec[] = [];
      for (let hd = 0; hd < nHead; hd++) {
        // Per head: [query (headDim) | gate (headDim)] when gated, else plain query rows.
        const base = gatedAttention ? hd * 2 * headDim : hd * headDim;
        qh.push(rope(rmsNorm(qg.slice(base, base + headDim), qNorm, eps), pos));
        if (gatedAttention) gh.push(qg.slice(base + headDim, base + 2 * headDim));
      }
      const kh: Vec[] = [];
      const vh: Vec[] = [];
      for (let hd = 0; hd < nHeadKv; hd++) {
        kh.push(rope(rmsNorm(k.slice(hd * headDim, (hd + 1) * headDim), kNorm, eps), pos));
        vh.push(v.slice(hd * headDim, (hd + 1) * headDim));
      }
      qs.push(qh);
      gates.push(gh);
      ks.push(kh);
      vs.push(vh);
    });
    const scale = 1 / Math.sqrt(headDim);
    const group = nHead / nHeadKv;
    return xs.map((_, t) => {
      const out = new Float64Array(nHead * headDim);
      for (let hd = 0; hd < nHead; hd++) {
        const kvh = Math.floor(hd / group);
        const scores = new Float64Array(t + 1);
        for (let s = 0; s <= t; s++) scores[s] = dot(qs[t]![hd]!, ks[s]![kvh]!) * scale;
        const probs = softmax(scores);
        for (let s = 0; s <= t; s++) {
          const v = vs[s]![kvh]!;
          for (let d = 0; d < headDim; d++) out[hd * headDim + d]! += probs[s]! * v[d]!;
        }
        if (gatedAttention) {
          const g = gates[t]![hd]!;
          for (let d = 0; d < headDim; d++) out[hd * headDim + d]! *= sigmoid(g[d]!);
        }
      }
      return matVec(wo, out);
    });
  }

  /** NEOX RoPE on the first nRot dims: pairs (i, i + nRot/2). IMROPE with equal positions is the same. */
  function rope(x: Vec, pos: number): Vec {
    const y = x.slice();
    const half = nRot / 2;
    for (let i = 0; i < half; i++) {
      const theta = pos * Math.pow(ropeBase, (-2 * i) / nRot);
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      y[i] = x[i]! * c - x[i + half]! * s;
      y[i + half] = x[i]! * s + x[i + half]! * c;
    }
    return y;
  }

  // ---- Gated DeltaNet (docs/MODEL.md#gated-deltanet-layer) -------------------------------------------
  function deltaNet(p: string, xs: Vec[]): Vec[] {
    const hk = num('ssm.group_count');
    const hv = num('ssm.time_step_rank');
    const dk = num('ssm.state_size');
    const dv = num('ssm.inner_size') / hv;
    const kernel = num('ssm.conv_kernel');
    const r = hv / hk;
    const keyDim = hk * dk;
    const convDim = 2 * keyDim + hv * dv;
    const wqkv = matrix(p + 'attn_qkv.weight');
    const wz = matrix(p + 'attn_gate.weight');
    const conv = raw(p + 'ssm_conv1d.weight'); // {kernel, convDim}: row c holds the taps, oldest first
    const ssmA = raw(p + 'ssm_a');
    const dtBias = raw(p + 'ssm_dt.bias');
    const ssmNorm = raw(p + 'ssm_norm.weight');
    const wout = matrix(p + 'ssm_out.weight');
    const grouped = arch === 'qwen3next';

    const state: Float64Array[] = Array.from({ length: hv }, () => new Float64Array(dk * dv)); // S[i*dv + j]
    const history: Vec[] = []; // pre-conv inputs
    return xs.map((x) => {
      const mixed = matVec(wqkv, x);
      const z = matVec(wz, x);
      let b: Vec;
      let alpha: Vec;
      if (has(p + 'ssm_ba.weight')) {
        // qwen3next: rows grouped per key head as [b (r) | a (r)] × Hk.
        const ba = matVec(matrix(p + 'ssm_ba.weight'), x);
        b = new Float64Array(hv);
        alpha = new Float64Array(hv);
        for (let g = 0; g < hk; g++) {
          for (let j = 0; j < r; j++) {
            b[g * r + j] = ba[g * 2 * r + j]!;
            alpha[g * r + j] = ba[g * 2 * r + r + j]!;
          }
        }
      } else {
        b = matVec(matrix(p + 'ssm_beta.weight'), x);
        alpha = matVec(matrix(p + 'ssm_alpha.weight'), x);
      }
      history.push(mixed);
      const y = new Float64Array(convDim);
      for (let c = 0; c < convDim; c++) {
        let acc = 0;
        for (let i = 0; i < kernel; i++) {
          const src = history[history.length - kernel + i];
          if (src) acc += conv[c * kernel + i]! * src[c]!;
        }
        y[c] = silu(acc);
      }
      const out = new Float64Array(hv * dv);
      for (let hIdx = 0; hIdx < hv; hIdx++) {
        const kh = grouped ? Math.floor(hIdx / r) : hIdx % hk;
        const q = l2Norm(y.slice(kh * dk, (kh + 1) * dk), eps);
        const k = l2Norm(y.slice(keyDim + kh * dk, keyDim + (kh + 1) * dk), eps);
        const v = y.slice(2 * keyDim + hIdx * dv, 2 * keyDim + (hIdx + 1) * dv);
        const beta = sigmoid(b[hIdx]!);
        const g = ssmA[hIdx]! * softplus(alpha[hIdx]! + dtBias[hIdx]!);
        const decay = Math.exp(g);
        const S = state[hIdx]!;
        for (let i = 0; i < S.length; i++) S[i]! *= decay;
        for (let j = 0; j < dv; j++) {
          let m = 0;
          for (let i = 0; i < dk; i++) m += S[i * dv + j]! * k[i]!;
          const delta = beta * (v[j]! - m);
          for (let i = 0; i < dk; i++) S[i * dv + j]! += k[i]! * delta;
        }
        const o = new Float64Array(dv);
        for (let j = 0; j < dv; j++) {
          let acc = 0;
          for (let i = 0; i < dk; i++) acc += S[i * dv + j]! * q[i]!;
          o[j] = acc / Math.sqrt(dk);
        }
        const normed = rmsNorm(o, ssmNorm, eps);
        for (let j = 0; j < dv; j++) out[hIdx * dv + j] = normed[j]! * silu(z[hIdx * dv + j]!);
      }
      return matVec(wout, out);
    });
  }

  // ---- FFN: dense SwiGLU or MoE (+ shared expert) -------------------------------------------
  function ffn(p: string, x: Vec): Vec {
    if (!has(p + 'ffn_gate_inp.weight')) {
      return swiglu(matrix(p + 'ffn_gate.weight'), matrix(p + 'ffn_up.weight'), matrix(p + 'ffn_down.weight'), x);
    }
    const router = matrix(p + 'ffn_gate_inp.weight');
    const probs = softmax(matVec(router, x));
    const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
    const selected = order.slice(0, nExpertUsed);
    const sum = selected.reduce((acc, e) => acc + probs[e]!, 0);
    const gate = matrix(p + 'ffn_gate_exps.weight');
    const up = matrix(p + 'ffn_up_exps.weight');
    const down = matrix(p + 'ffn_down_exps.weight');
    const nFf = gate.rows / router.rows;
    const out = new Float64Array(nEmbd);
    for (const e of selected) {
      const w = probs[e]! / Math.max(sum, 6.103515625e-5);
      const y = swiglu(slab(gate, e, nFf), slab(up, e, nFf), slab(down, e, nEmbd), x);
      for (let i = 0; i < nEmbd; i++) out[i]! += w * y[i]!;
    }
    if (has(p + 'ffn_up_shexp.weight')) {
      const shared = swiglu(
        matrix(p + 'ffn_gate_shexp.weight'),
        matrix(p + 'ffn_up_shexp.weight'),
        matrix(p + 'ffn_down_shexp.weight'),
        x,
      );
      const g = has(p + 'ffn_gate_inp_shexp.weight') ? sigmoid(dot(raw(p + 'ffn_gate_inp_shexp.weight'), x)) : 1;
      for (let i = 0; i < nEmbd; i++) out[i]! += g * shared[i]!;
    }
    return out;
  }

  return { arch, logits };
}

/** Rows [e*rows, (e+1)*rows) of a stacked expert tensor, as one expert's matrix. */
function slab(m: Matrix, e: number, rows: number): Matrix {
  return { cols: m.cols, rows, data: m.data.subarray(e * rows * m.cols, (e + 1) * rows * m.cols) };
}

function swiglu(gate: Matrix, up: Matrix, down: Matrix, x: Vec): Vec {
  const g = matVec(gate, x);
  const u = matVec(up, x);
  const hidden = g.map((v, i) => silu(v) * u[i]!);
  return matVec(down, hidden);
}

function matVec(m: Matrix, x: Vec): Vec {
  if (x.length !== m.cols) throw new Error(`reference: matVec ${m.cols}x${m.rows} with input ${x.length}`);
  const y = new Float64Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let acc = 0;
    const base = r * m.cols;
    for (let c = 0; c < m.cols; c++) acc += m.data[base + c]! * x[c]!;
    y[r] = acc;
  }
  return y;
}

function rmsNorm(x: Vec, w: Vec, eps: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * w[i]!);
}

function l2Norm(x: Vec, eps: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.max(Math.sqrt(ss), eps);
  return x.map((v) => v * scale);
}

function softmax(x: Vec): Vec {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);
const dot = (a: Vec, b: Vec): number => a.reduce((acc, v, i) => acc + v * b[i]!, 0);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const silu = (x: number) => x * sigmoid(x);
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
