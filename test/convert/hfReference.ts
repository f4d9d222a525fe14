// A float64 forward pass of a Qwen3.5 (dense or MoE) checkpoint in its Hugging Face layout, written
// from transformers' Qwen3_5 modelling only (docs/MODEL.md; layout in docs/GGUF.md#converter-conventions): zero-centred (1 + w)
// RMSNorms, grouped value heads (v-head h uses k-head h // r), A_log and dt_bias as stored, the conv
// weight [C, 1, K], fused experts gate_up_proj [E, 2I, H] / down_proj [E, H, I]. It shares nothing with
// the converter (no GGUF names, no reordering), so converted logits that match it show the
// conversion is right.
import type { HfTensor } from './fixture.js';

type Vec = Float64Array;

export function hfReferenceLogits(tensors: Map<string, HfTensor>, text: Record<string, any>, tokens: number[]): Float64Array[] {
  const get = (name: string): HfTensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: missing ${name}`);
    return t;
  };
  const W = (name: string) => get(name).data;
  const H: number = text.hidden_size;
  const eps: number = text.rms_norm_eps;
  const nHead: number = text.num_attention_heads;
  const nKv: number = text.num_key_value_heads;
  const hd: number = text.head_dim;
  const rope = text.rope_parameters;
  const nRot = Math.floor(hd * rope.partial_rotary_factor);
  const theta: number = rope.rope_theta;
  const Hk: number = text.linear_num_key_heads;
  const Hv: number = text.linear_num_value_heads;
  const dk: number = text.linear_key_head_dim;
  const dv: number = text.linear_value_head_dim;
  const Kc: number = text.linear_conv_kernel_dim;
  const r = Hv / Hk;
  const lm = 'model.language_model.';

  // y = W x for W [out, in] stored row-major.
  const linear = (w: Float32Array, x: ArrayLike<number>, offsetRows = 0, rows?: number): Vec => {
    const n = x.length;
    const m = rows ?? w.length / n;
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      const base = (offsetRows + i) * n;
      for (let j = 0; j < n; j++) s += w[base + j]! * x[j]!;
      y[i] = s;
    }
    return y;
  };
  const rms = (x: ArrayLike<number>): Vec => {
    let ss = 0;
    for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
    const inv = 1 / Math.sqrt(ss / x.length + eps);
    return Float64Array.from(x, (v) => v * inv);
  };
  const norm1p = (x: ArrayLike<number>, w: Float32Array): Vec => rms(x).map((v, i) => v * (1 + w[i]!));
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));

  function attention(p: string, xs: Vec[]): Vec[] {
    const q: Vec[][] = [], g: Vec[][] = [], k: Vec[][] = [], v: Vec[][] = [];
    const rot = (x: Vec, pos: number) => {
      const y = x.slice();
      const half = nRot / 2;
      for (let d = 0; d < half; d++) {
        const a = pos * Math.pow(theta, (-2 * d) / nRot);
        y[d] = x[d]! * Math.cos(a) - x[d + half]! * Math.sin(a);
        y[d + half] = x[d + half]! * Math.cos(a) + x[d]! * Math.sin(a);
      }
      return y;
    };
    xs.forEach((x, pos) => {
      const qg = linear(W(`${p}q_proj.weight`), x);
      const kk = linear(W(`${p}k_proj.weight`), x);
      const vv = linear(W(`${p}v_proj.weight`), x);
      q.push([]); g.push([]); k.push([]); v.push([]);
      for (let h = 0; h < nHead; h++) {
        // q_proj output viewed [n_head, 2·head_dim]: query first, then gate.
        q[pos]!.push(rot(norm1p(qg.subarray(h * 2 * hd, h * 2 * hd + hd), W(`${p}q_norm.weight`)), pos));
        g[pos]!.push(qg.slice(h * 2 * hd + hd, (h + 1) * 2 * hd));
      }
      for (let h = 0; h < nKv; h++) {
        k[pos]!.push(rot(norm1p(kk.subarray(h * hd, (h + 1) * hd), W(`${p}k_norm.weight`)), pos));
        v[pos]!.push(vv.slice(h * hd, (h + 1) * hd));
      }
    });
    return xs.map((_, t) => {
      const o = new Float64Array(nHead * hd);
      for (let h = 0; h < nHead; h++) {
        const kv = Math.floor(h / (nHead / nKv));
        const s = Array.from({ length: t + 1 }, (_, j) => {
          let d = 0;
          for (let i = 0; i < hd; i++) d += q[t]![h]![i]! * k[j]![kv]![i]!;
          return d / Math.sqrt(hd);
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= t; j++) for (let i = 0; i < hd; i++) o[h * hd + i]! += (e[j]! / z) * v[j]![kv]![i]!;
        for (let i = 0; i < hd; i++) o[h * hd + i]! *= sigmoid(g[t]![h]![i]!);
      }
      return linear(W(`${p}o_proj.weight`), o);
    });
  }

  function deltaNet(p: string, xs: Vec[]): Vec[] {
    const keyDim = Hk * dk;
    const convDim = 2 * keyDim + Hv * dv;
    const conv = W(`${p}conv1d.weight`);  // [C, 1, K]: tap K-1 is the current token
    const aLog = W(`${p}A_log`);
    const dtBias = W(`${p}dt_bias`);
    const S = Array.from({ length: Hv }, () => new Float64Array(dk * dv));  // S[i·dv + j], i = key dim
    const hist: Vec[] = [];
    return xs.map((x) => {
      const mixed = linear(W(`${p}in_proj_qkv.weight`), x);
      const z = linear(W(`${p}in_proj_z.weight`), x);
      const b = linear(W(`${p}in_proj_b.weight`), x);
      const a = linear(W(`${p}in_proj_a.weight`), x);
      hist.push(mixed);
      const c = new Float64Array(convDim);
      for (let ch = 0; ch < convDim; ch++) {
        let s = 0;
        for (let j = 0; j < Kc; j++) {
          const t = hist.length - Kc + j;
          if (t >= 0) s += conv[ch * Kc + j]! * hist[t]![ch]!;
        }
        c[ch] = silu(s);
      }
      const l2 = (v: Vec) => {
        let ss = 0;
        for (const e of v) ss += e * e;
        return v.map((e) => e / Math.sqrt(ss + 1e-6));
      };
      const out = new Float64Array(Hv * dv);
      for (let h = 0; h < Hv; h++) {
        const kh = Math.floor(h / r);  // grouped: v-head h reads k-head h // r
        const qv = l2(c.slice(kh * dk, (kh + 1) * dk)).map((e) => e / Math.sqrt(dk));
        const kv = l2(c.slice(keyDim + kh * dk, keyDim + (kh + 1) * dk));
        const vv = c.subarray(2 * keyDim + h * dv, 2 * keyDim + (h + 1) * dv);
        const beta = sigmoid(b[h]!);
        const gLog = -Math.exp(aLog[h]!) * softplus(a[h]! + dtBias[h]!);
        const s = S[h]!;
        const decay = Math.exp(gLog);
        for (let i = 0; i < s.length; i++) s[i]! *= decay;
        for (let j = 0; j < dv; j++) {
          let m = 0;
          for (let i = 0; i < dk; i++) m += s[i * dv + j]! * kv[i]!;
          const delta = beta * (vv[j]! - m);
          for (let i = 0; i < dk; i++) s[i * dv + j]! += kv[i]! * delta;
        }
        const o = new Float64Array(dv);
        for (let j = 0; j < dv; j++) for (let i = 0; i < dk; i++) o[j]! += s[i * dv + j]! * qv[i]!;
        const on = rms(o);
        const nw = W(`${p}norm.weight`);  // gated norm: plain weight
        for (let j = 0; j < dv; j++) out[h * dv + j] = on[j]! * nw[j]! * silu(z[h * dv + j]!);
      }
      return linear(W(`${p}out_proj.weight`), out);
    });
  }

  const swiglu = (gate: Vec, up: Vec) => gate.map((v, i) => silu(v) * up[i]!);

  function ffn(p: string, x: Vec): Vec {
    if (!tensors.has(`${p}mlp.gate.weight`)) {
      return linear(W(`${p}mlp.down_proj.weight`), swiglu(linear(W(`${p}mlp.gate_proj.weight`), x), linear(W(`${p}mlp.up_proj.weight`), x)));
    }
    const E: number = text.num_experts;
    const I: number = text.moe_intermediate_size;
    const logits = linear(W(`${p}mlp.gate.weight`), x);
    const m = Math.max(...logits);
    const prob = logits.map((v) => Math.exp(v - m));
    const z = prob.reduce((a, b) => a + b, 0);
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => prob[b]! - prob[a]!).slice(0, text.num_experts_per_tok);
    const norm = order.reduce((s, e) => s + prob[e]! / z, 0);
    const y = new Float64Array(H);
    const gu = W(`${p}mlp.experts.gate_up_proj`);
    const down = W(`${p}mlp.experts.down_proj`);
    for (const e of order) {
      const gate = linear(gu, x, e * 2 * I, I);
      const up = linear(gu, x, e * 2 * I + I, I);
      const o = linear(down, swiglu(gate, up), e * H, H);
      const wgt = prob[e]! / z / norm;
      for (let i = 0; i < H; i++) y[i]! += wgt * o[i]!;
    }
    const sg = sigmoid(linear(W(`${p}mlp.shared_expert_gate.weight`), x)[0]!);
    const sh = linear(W(`${p}mlp.shared_expert.down_proj.weight`),
      swiglu(linear(W(`${p}mlp.shared_expert.gate_proj.weight`), x), linear(W(`${p}mlp.shared_expert.up_proj.weight`), x)));
    for (let i = 0; i < H; i++) y[i]! += sg * sh[i]!;
    return y;
  }

  const embed = W(`${lm}embed_tokens.weight`);
  let h: Vec[] = tokens.map((t) => Float64Array.from(embed.subarray(t * H, (t + 1) * H)));
  for (let il = 0; il < text.num_hidden_layers; il++) {
    const p = `${lm}layers.${il}.`;
    const x = h.map((v) => norm1p(v, W(`${p}input_layernorm.weight`)));
    const mixed = text.layer_types[il] === 'full_attention' ? attention(`${p}self_attn.`, x) : deltaNet(`${p}linear_attn.`, x);
    h = h.map((v, t) => v.map((e, i) => e + mixed[t]![i]!));
    h = h.map((v) => {
      const f = ffn(p, norm1p(v, W(`${p}post_attention_layernorm.weight`)));
      return v.map((e, i) => e + f[i]!);
    });
  }
  const head = tensors.has('lm_head.weight') ? W('lm_head.weight') : embed;
  return h.map((v) => linear(head, norm1p(v, W(`${lm}norm.weight`))));
}
