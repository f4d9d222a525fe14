// Every output tensor of a converted checkpoint, as llama.cpp's convert_hf_to_gguf.py names, shapes
// and transforms it (docs/GGUF.md#converter-conventions): a GGUF name and ggml shape, the stored type,
// the source rows (runs of rows in the safetensors files) and a transform the native side applies
// while reading (native/quantize/safetensors_source.h):
//   - zero-centred RMSNorm weights get +1 (Qwen3.5 / Qwen3-Next; never linear_attn.norm);
//   - A_log becomes ssm_a = -exp(A_log); conv1d [C,1,K] is read as C rows of K (squeezed);
//   - qwen35/qwen35moe: value heads go from HF's grouped order to llama.cpp's tiled order (new head
//     p = i·Hk + g holds HF head g·r + i) in in_proj_qkv's V rows, in_proj_z, in_proj_a/b, A_log,
//     dt_bias, conv1d's V channels and out_proj's input columns;
//   - qwen3next: in_proj_qkvz (grouped per K head) is split into attn_qkv = [all q | all k | all v]
//     and attn_gate = all z; in_proj_ba is kept as ssm_ba;
//   - fused experts gate_up_proj [E, 2I, H] split into ffn_gate_exps / ffn_up_exps, down_proj kept;
//     per-expert tensors stacked;
//   - the q_proj rows (per-head [q | gate] interleave) are kept as they are.
import { UserError } from '../errors.js';
import { GgmlType } from '../gguf/ggmlTypes.js';
import { type ConvertHparams, isRecurrent } from './hparams.js';
import type { Checkpoint } from './checkpoint.js';
import type { ConvertOp, ConvertPart, ConvertTensorPlan } from '../native/index.js';
import { dtypeSize, type SafetensorsTensor } from './safetensors.js';

/** 'f32' | 'f16' | 'bf16': convert_hf_to_gguf's --outtype; 'source': keep each tensor's dtype (lossless). */
export type OutType = 'f32' | 'f16' | 'bf16' | 'source';

/** The converter's rule: 1-D tensors, norms, the router, the conv and non-".weight" names stay F32. */
function forcedF32(name: string, nDims: number): boolean {
  return nDims <= 1 || name.endsWith('_norm.weight') || name.endsWith('.ffn_gate_inp.weight') ||
    name.endsWith('.ssm_conv1d.weight') || !name.endsWith('.weight');
}

class Planner {
  readonly out: ConvertTensorPlan[] = [];
  readonly used = new Set<string>();

  constructor(private readonly ck: Checkpoint, private readonly outType: OutType) {}

  has(name: string): boolean {
    return this.ck.tensors.has(name);
  }

  /** The source tensor, checked to have `shape` (PyTorch order). */
  get(name: string, shape: number[]): SafetensorsTensor {
    const t = this.ck.tensors.get(name);
    if (!t) throw new UserError(`${this.ck.dir}: missing tensor ${name}`, 'ERR_CORRUPT_FILE');
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(
        `${this.ck.files[t.file]}: tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
        'ERR_CORRUPT_FILE',
      );
    }
    this.used.add(name);
    return t;
  }

  /** Rows [first, first + n) of a tensor whose rows hold rowLen elements. */
  rows(t: SafetensorsTensor, rowLen: number, first: number, n: number): ConvertPart {
    return { file: t.file, offset: t.offset + first * rowLen * dtypeSize(t.dtype), rows: n, dtype: t.dtype };
  }

  add(name: string, shape: number[], parts: ConvertPart[], op: ConvertOp = 'none', cols?: { block: number; perm: number[] }): void {
    const merged: ConvertPart[] = [];
    for (const p of parts) {
      const last = merged[merged.length - 1];
      if (last && last.file === p.file && last.dtype === p.dtype && last.offset + last.rows * shape[0]! * dtypeSize(last.dtype) === p.offset) {
        last.rows += p.rows;
      } else {
        merged.push({ ...p });
      }
    }
    const t: ConvertTensorPlan = { name, shape, type: this.storedType(name, shape.length, merged), op, parts: merged };
    if (cols && cols.perm.some((v, i) => v !== i)) {
      t.colBlock = cols.block;
      t.colPerm = cols.perm;
    }
    this.out.push(t);
  }

  /** A whole tensor under a new name; shape is the ggml order (the reverse of PyTorch's). */
  whole(name: string, source: string, torchShape: number[], op: ConvertOp = 'none'): void {
    const t = this.get(source, torchShape);
    const shape = [...torchShape].reverse();
    const rows = shape.slice(1).reduce((a, b) => a * b, 1);
    this.add(name, shape, [this.rows(t, shape[0]!, 0, rows)], op);
  }

  private storedType(name: string, nDims: number, parts: ConvertPart[]): number {
    if (forcedF32(name, nDims)) return GgmlType.F32;
    switch (this.outType) {
      case 'f32': return GgmlType.F32;
      case 'f16': return GgmlType.F16;
      case 'bf16': return GgmlType.BF16;
      case 'source': {
        const d = parts[0]?.dtype;
        if (!parts.every((p) => p.dtype === d)) return GgmlType.F32;
        return d === 'BF16' ? GgmlType.BF16 : d === 'F16' ? GgmlType.F16 : GgmlType.F32;
      }
    }
  }
}

/** HF head order -> llama.cpp's tiled order: output head p = i·Hk + g is HF head g·r + i. */
export function tiledHeadOrder(kHeads: number, vHeads: number): number[] {
  const r = vHeads / kHeads;
  return Array.from({ length: vHeads }, (_, p) => (p % kHeads) * r + Math.floor(p / kHeads));
}

export function planTensors(ck: Checkpoint, hp: ConvertHparams, outType: OutType): ConvertTensorPlan[] {
  const pl = new Planner(ck, outType);
  const H = hp.nEmbd;
  const zeroCentred = hp.arch !== 'qwen3' && hp.arch !== 'qwen3moe';
  const normOp: ConvertOp = zeroCentred ? 'add_one' : 'none';
  const hybrid = hp.linear !== undefined;

  pl.whole('token_embd.weight', 'model.embed_tokens.weight', [hp.nVocab, H]);
  for (let il = 0; il < hp.nLayer + hp.nNextn; il++) {
    const src = il < hp.nLayer ? `model.layers.${il}.` : `mtp.layers.${il - hp.nLayer}.`;
    const blk = `blk.${il}.`;
    pl.whole(`${blk}attn_norm.weight`, `${src}input_layernorm.weight`, [H], normOp);
    if (hybrid && isRecurrent(hp, il)) {
      if (hp.arch === 'qwen3next') planDeltaNetNext(pl, hp, src, blk);
      else planDeltaNet(pl, hp, src, blk);
    } else {
      planAttention(pl, hp, src, blk, normOp);
    }
    pl.whole(`${blk}${hybrid ? 'post_attention_norm' : 'ffn_norm'}.weight`, `${src}post_attention_layernorm.weight`, [H], normOp);
    if (hp.moe) planMoe(pl, hp, src, blk);
    else {
      const F = hp.nFf!;
      pl.whole(`${blk}ffn_gate.weight`, `${src}mlp.gate_proj.weight`, [F, H]);
      pl.whole(`${blk}ffn_up.weight`, `${src}mlp.up_proj.weight`, [F, H]);
      pl.whole(`${blk}ffn_down.weight`, `${src}mlp.down_proj.weight`, [H, F]);
    }
    if (il >= hp.nLayer) {
      // The MTP block's own tensors (llama.cpp's NextN names); its norms are zero-centred too.
      pl.whole(`${blk}nextn.eh_proj.weight`, 'mtp.fc.weight', [H, 2 * H]);
      pl.whole(`${blk}nextn.enorm.weight`, 'mtp.pre_fc_norm_embedding.weight', [H], normOp);
      pl.whole(`${blk}nextn.hnorm.weight`, 'mtp.pre_fc_norm_hidden.weight', [H], normOp);
      pl.whole(`${blk}nextn.shared_head_norm.weight`, 'mtp.norm.weight', [H], normOp);
    }
  }
  pl.whole('output_norm.weight', 'model.norm.weight', [H], normOp);
  if (!hp.tied) pl.whole('output.weight', 'lm_head.weight', [hp.nVocab, H]);

  for (const name of ck.tensors.keys()) {
    if (pl.used.has(name)) continue;
    if (name === 'lm_head.weight' && hp.tied) continue;  // a tied head saved anyway
    if (name.startsWith('mtp.') && hp.nNextn === 0) continue;
    if (name.endsWith('.rotary_emb.inv_freq')) continue;
    throw new UserError(`${ck.dir}: tensor ${name} has no place in a ${hp.arch} GGUF`, 'ERR_UNSUPPORTED');
  }
  return pl.out;
}

function planAttention(pl: Planner, hp: ConvertHparams, src: string, blk: string, normOp: ConvertOp): void {
  const H = hp.nEmbd;
  const hd = hp.headDim;
  // Hybrid archs: q_proj rows interleave [q_h | gate_h] per head; the converter keeps them so.
  const qRows = hp.nHead * hd * (hp.linear ? 2 : 1);
  pl.whole(`${blk}attn_q.weight`, `${src}self_attn.q_proj.weight`, [qRows, H]);
  pl.whole(`${blk}attn_k.weight`, `${src}self_attn.k_proj.weight`, [hp.nHeadKv * hd, H]);
  pl.whole(`${blk}attn_v.weight`, `${src}self_attn.v_proj.weight`, [hp.nHeadKv * hd, H]);
  pl.whole(`${blk}attn_output.weight`, `${src}self_attn.o_proj.weight`, [H, hp.nHead * hd]);
  pl.whole(`${blk}attn_q_norm.weight`, `${src}self_attn.q_norm.weight`, [hd], normOp);
  pl.whole(`${blk}attn_k_norm.weight`, `${src}self_attn.k_norm.weight`, [hd], normOp);
}

/** Qwen3.5 Gated DeltaNet: four projections, V heads reordered to the tiled order. */
function planDeltaNet(pl: Planner, hp: ConvertHparams, src: string, blk: string): void {
  const { kHeads, vHeads, dk, dv } = hp.linear!;
  const H = hp.nEmbd;
  const K = hp.ssm!.conv;
  const keyDim = kHeads * dk;
  const valueDim = vHeads * dv;
  const convDim = 2 * keyDim + valueDim;
  const order = tiledHeadOrder(kHeads, vHeads);
  const p = `${src}linear_attn.`;
  // Rows [0, start) kept, then the V heads of headRows rows each in the tiled order.
  const reordered = (t: SafetensorsTensor, rowLen: number, start: number, headRows: number) => [
    ...(start > 0 ? [pl.rows(t, rowLen, 0, start)] : []),
    ...order.map((h) => pl.rows(t, rowLen, start + h * headRows, headRows)),
  ];

  const qkv = pl.get(`${p}in_proj_qkv.weight`, [convDim, H]);
  pl.add(`${blk}attn_qkv.weight`, [H, convDim], reordered(qkv, H, 2 * keyDim, dv));
  const z = pl.get(`${p}in_proj_z.weight`, [valueDim, H]);
  pl.add(`${blk}attn_gate.weight`, [H, valueDim], reordered(z, H, 0, dv));
  const conv = pl.get(`${p}conv1d.weight`, [convDim, 1, K]);
  pl.add(`${blk}ssm_conv1d.weight`, [K, convDim], reordered(conv, K, 2 * keyDim, dv));
  const dt = pl.get(`${p}dt_bias`, [vHeads]);
  pl.add(`${blk}ssm_dt.bias`, [vHeads], [pl.rows(dt, vHeads, 0, 1)], 'none', { block: 1, perm: order });
  const aLog = pl.get(`${p}A_log`, [vHeads]);
  pl.add(`${blk}ssm_a`, [vHeads], [pl.rows(aLog, vHeads, 0, 1)], 'neg_exp', { block: 1, perm: order });
  const b = pl.get(`${p}in_proj_b.weight`, [vHeads, H]);
  pl.add(`${blk}ssm_beta.weight`, [H, vHeads], reordered(b, H, 0, 1));
  const a = pl.get(`${p}in_proj_a.weight`, [vHeads, H]);
  pl.add(`${blk}ssm_alpha.weight`, [H, vHeads], reordered(a, H, 0, 1));
  pl.whole(`${blk}ssm_norm.weight`, `${p}norm.weight`, [dv]);  // gated norm: no +1
  const out = pl.get(`${p}out_proj.weight`, [H, valueDim]);
  pl.add(`${blk}ssm_out.weight`, [valueDim, H], [pl.rows(out, valueDim, 0, H)], 'none', { block: dv, perm: order });
}

/** Qwen3-Next Gated DeltaNet: in_proj_qkvz split per K-head group, no V-head reordering. */
function planDeltaNetNext(pl: Planner, hp: ConvertHparams, src: string, blk: string): void {
  const { kHeads, vHeads, dk, dv } = hp.linear!;
  const H = hp.nEmbd;
  const K = hp.ssm!.conv;
  const r = vHeads / kHeads;
  const group = 2 * dk + 2 * r * dv;
  const convDim = 2 * kHeads * dk + vHeads * dv;
  const p = `${src}linear_attn.`;
  const qkvz = pl.get(`${p}in_proj_qkvz.weight`, [kHeads * group, H]);
  const pick = (offset: number, n: number) => Array.from({ length: kHeads }, (_, g) => pl.rows(qkvz, H, g * group + offset, n));
  pl.add(`${blk}attn_qkv.weight`, [H, convDim], [...pick(0, dk), ...pick(dk, dk), ...pick(2 * dk, r * dv)]);
  pl.add(`${blk}attn_gate.weight`, [H, vHeads * dv], pick(2 * dk + r * dv, r * dv));
  pl.whole(`${blk}ssm_ba.weight`, `${p}in_proj_ba.weight`, [2 * vHeads, H]);
  const conv = pl.get(`${p}conv1d.weight`, [convDim, 1, K]);
  pl.add(`${blk}ssm_conv1d.weight`, [K, convDim], [pl.rows(conv, K, 0, convDim)]);
  pl.whole(`${blk}ssm_dt.bias`, `${p}dt_bias`, [vHeads]);
  pl.whole(`${blk}ssm_a`, `${p}A_log`, [vHeads], 'neg_exp');
  pl.whole(`${blk}ssm_norm.weight`, `${p}norm.weight`, [dv]);
  pl.whole(`${blk}ssm_out.weight`, `${p}out_proj.weight`, [H, vHeads * dv]);
}

function planMoe(pl: Planner, hp: ConvertHparams, src: string, blk: string): void {
  const H = hp.nEmbd;
  const { nExpert: E, nFfExp: I, nFfShexp } = hp.moe!;
  const m = `${src}mlp.`;
  pl.whole(`${blk}ffn_gate_inp.weight`, `${m}gate.weight`, [E, H]);
  if (pl.has(`${m}experts.gate_up_proj`)) {
    // Fused (Qwen3.5 checkpoints): gate_up_proj [E, 2I, H], gate rows first; down_proj [E, H, I].
    const gu = pl.get(`${m}experts.gate_up_proj`, [E, 2 * I, H]);
    const experts = Array.from({ length: E }, (_, e) => e);
    pl.add(`${blk}ffn_gate_exps.weight`, [H, I, E], experts.map((e) => pl.rows(gu, H, e * 2 * I, I)));
    pl.add(`${blk}ffn_up_exps.weight`, [H, I, E], experts.map((e) => pl.rows(gu, H, e * 2 * I + I, I)));
    const down = pl.get(`${m}experts.down_proj`, [E, H, I]);
    pl.add(`${blk}ffn_down_exps.weight`, [I, H, E], [pl.rows(down, I, 0, E * H)]);
  } else {
    const stack = (proj: string, shape: number[]) =>
      Array.from({ length: E }, (_, e) => {
        const t = pl.get(`${m}experts.${e}.${proj}.weight`, shape);
        return pl.rows(t, shape[1]!, 0, shape[0]!);
      });
    pl.add(`${blk}ffn_gate_exps.weight`, [H, I, E], stack('gate_proj', [I, H]));
    pl.add(`${blk}ffn_up_exps.weight`, [H, I, E], stack('up_proj', [I, H]));
    pl.add(`${blk}ffn_down_exps.weight`, [I, H, E], stack('down_proj', [H, I]));
  }
  if (nFfShexp !== undefined) {
    const s = `${m}shared_expert.`;
    const g = pl.get(`${m}shared_expert_gate.weight`, [1, H]);
    pl.add(`${blk}ffn_gate_inp_shexp.weight`, [H], [pl.rows(g, H, 0, 1)]);
    pl.whole(`${blk}ffn_gate_shexp.weight`, `${s}gate_proj.weight`, [nFfShexp, H]);
    pl.whole(`${blk}ffn_up_shexp.weight`, `${s}up_proj.weight`, [nFfShexp, H]);
    pl.whole(`${blk}ffn_down_shexp.weight`, `${s}down_proj.weight`, [H, nFfShexp]);
  }
}
