// Every tensor of a synthetic model: the names, ggml shapes (ne0 = row length first) and types
// llama.cpp's converter produces for qwen35 / qwen35moe (docs/GGUF.md#tensors), and the statistics of
// the random values. Random weights make the converter's value transforms (q/gate interleave,
// tiled V-head order, norm +1, ssm_a = -exp(A_log)) a matter of distribution, not layout:
// norms are drawn around 1 (a tied model's output_norm excepted, see below), ssm_a is drawn as
// -exp(N), everything else around 0.
//
// Scales make a random deep model well-conditioned, so that quantized files compare engines rather
// than the chaos of a random network (llama.cpp rounds activations to 8 bits before each integer
// matmul: in a network where every block rewrites the residual stream, one flipped rounding
// cascades, and an F16 KV cache or a changed summation order alone moves the output distribution
// by KL ~1e-3). The residual stream is the embedding (std 1) plus block 0's FFN, a large "extended
// embedding" (down projection 4/sqrt(fan_in)) that makes the next-token distribution an asymmetric
// function of the current token even with a tied LM head; every later block adds a small update
// (output projections 0.05/sqrt(fan_in)) that carries the context. Block 0's attention, which would
// feed F16-KV round-off into that large FFN, is damped further (0.005/sqrt(fan_in)). Input
// projections have std 1/sqrt(fan_in) (unit-variance outputs from the unit-RMS normed residual).
// Logits come out with std ≈ 2.5 (mean entropy ≈ 3.6 nats over the tiny 512-token vocabulary):
// untied, output.weight has std 2.5/sqrt(n_embd) after output_norm ≈ 1; tied, token_embd (std 1) is
// the LM head and output_norm is drawn around 0 with std 2.5/sqrt(n_embd), since a norm around 1
// would make logits a symmetric form of (current, next) token that greedy decoding turns into
// 2-cycles. Measured on the tiny presets: KL(llama.cpp F32 KV vs F16 KV + flash attention) ≲ 1e-5
// on Q8_0 and Q4_K_M files; KL(F32 file, Q8_0) ≈ 1e-3, KL(F32, Q4_K_M) ≈ 0.03–0.1.
import { isRecurrentLayer, type SynthPreset } from './presets.js';
import { GgmlType, ggmlTypeSize } from '../gguf/ggmlTypes.js';
import { WEIGHT_TYPE_INFO, type WeightType } from './weightTypes.js';

export interface TensorInit {
  mean: number;
  std: number;
  /** Store -exp(value), as the converter does for A_log. */
  transform?: 'neg_exp';
}

export interface PlannedTensor {
  name: string;
  /** ggml ne order */
  shape: number[];
  /** ggml type id */
  type: number;
  init: TensorInit;
}

/** How a 2-D/3-D weight is drawn. */
type WeightRole = 'in' | 'out' | 'embed' | 'head';

/** Std of the residual-stream embedding. */
export const EMBED_STD = 1;
/** Std of the logits (times sqrt(n_embd) for the LM head's weights). */
export const LOGIT_STD = 2.5;
/** Output projections (attn_output, ssm_out, ffn_down*) as a multiple of 1/sqrt(fan_in). */
export const OUT_SCALE = 0.05;
/** Block 0's FFN down projections: the "extended embedding". */
export const FFN0_OUT_SCALE = 4;
/** Block 0's attention output, ahead of that large FFN (qwen3-style archs start with attention). */
export const ATTN0_OUT_SCALE = 0.005;

/** Scale (× 1/sqrt(fan_in)) of block il's output projection of the given kind. */
export function outScale(il: number, kind: 'attention' | 'deltanet' | 'ffn'): number {
  if (il !== 0) return OUT_SCALE;
  return kind === 'ffn' ? FFN0_OUT_SCALE : kind === 'attention' ? ATTN0_OUT_SCALE : OUT_SCALE;
}

export function planTensors(p: SynthPreset, nVocab: number, weightType: WeightType): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  const f32 = (name: string, shape: number[], init: TensorInit) => out.push({ name, shape, type: GgmlType.F32, init });
  const norm = (name: string, n: number) => f32(name, [n], { mean: 1, std: 0.1 });
  const weight = (name: string, shape: number[], role: WeightRole, scale = 1) =>
    out.push({ name, shape, type: storedType(shape, weightType), init: weightInit(shape, role, p.nEmbd, scale) });

  // Router and shared-expert gate read the normed residual like any input projection.
  const inputInit: TensorInit = { mean: 0, std: 1 / Math.sqrt(p.nEmbd) };

  weight('token_embd.weight', [p.nEmbd, nVocab], 'embed');

  const keyDim = p.ssmState * p.ssmGroups;
  const valueDim = p.ssmState * p.ssmVHeads;
  const convDim = 2 * keyDim + valueDim;
  for (let il = 0; il < p.nLayer; il++) {
    const blk = `blk.${il}.`;
    norm(`${blk}attn_norm.weight`, p.nEmbd);
    if (isRecurrentLayer(p, il)) {
      // Gated DeltaNet: rows of attn_qkv are [Q (Hk·dk) | K (Hk·dk) | V (Hv·dv)].
      weight(`${blk}attn_qkv.weight`, [p.nEmbd, convDim], 'in');
      weight(`${blk}attn_gate.weight`, [p.nEmbd, valueDim], 'in');
      f32(`${blk}ssm_conv1d.weight`, [p.ssmConv, convDim], { mean: 0, std: 1 / Math.sqrt(p.ssmConv) });
      // Decay g = ssm_a · softplus(alpha + dt_bias) ≈ -0.1 per token: memory of ~10 tokens.
      f32(`${blk}ssm_dt.bias`, [p.ssmVHeads], { mean: -1, std: 0.5 });
      f32(`${blk}ssm_a`, [p.ssmVHeads], { mean: -1, std: 0.5, transform: 'neg_exp' });
      weight(`${blk}ssm_beta.weight`, [p.nEmbd, p.ssmVHeads], 'in');
      weight(`${blk}ssm_alpha.weight`, [p.nEmbd, p.ssmVHeads], 'in');
      norm(`${blk}ssm_norm.weight`, p.ssmState);
      weight(`${blk}ssm_out.weight`, [valueDim, p.nEmbd], 'out', outScale(il, 'deltanet'));
    } else {
      // Rows of attn_q interleave per head: [q_h (headDim) | gate_h (headDim)].
      weight(`${blk}attn_q.weight`, [p.nEmbd, 2 * p.nHead * p.headDim], 'in');
      weight(`${blk}attn_k.weight`, [p.nEmbd, p.nHeadKv * p.headDim], 'in');
      weight(`${blk}attn_v.weight`, [p.nEmbd, p.nHeadKv * p.headDim], 'in');
      weight(`${blk}attn_output.weight`, [p.nHead * p.headDim, p.nEmbd], 'out', outScale(il, 'attention'));
      norm(`${blk}attn_q_norm.weight`, p.headDim);
      norm(`${blk}attn_k_norm.weight`, p.headDim);
    }
    norm(`${blk}post_attention_norm.weight`, p.nEmbd);
    const ffnOut = outScale(il, 'ffn');
    if (p.moe) {
      const { nExpert, nFfExp, nFfShexp } = p.moe;
      // The router stays F32, as the converter and llama-quantize keep it.
      f32(`${blk}ffn_gate_inp.weight`, [p.nEmbd, nExpert], inputInit);
      weight(`${blk}ffn_gate_exps.weight`, [p.nEmbd, nFfExp, nExpert], 'in');
      weight(`${blk}ffn_up_exps.weight`, [p.nEmbd, nFfExp, nExpert], 'in');
      weight(`${blk}ffn_down_exps.weight`, [nFfExp, p.nEmbd, nExpert], 'out', ffnOut);
      f32(`${blk}ffn_gate_inp_shexp.weight`, [p.nEmbd], inputInit);
      weight(`${blk}ffn_gate_shexp.weight`, [p.nEmbd, nFfShexp], 'in');
      weight(`${blk}ffn_up_shexp.weight`, [p.nEmbd, nFfShexp], 'in');
      weight(`${blk}ffn_down_shexp.weight`, [nFfShexp, p.nEmbd], 'out', ffnOut);
    } else {
      const nFf = p.nFf!;
      weight(`${blk}ffn_gate.weight`, [p.nEmbd, nFf], 'in');
      weight(`${blk}ffn_up.weight`, [p.nEmbd, nFf], 'in');
      weight(`${blk}ffn_down.weight`, [nFf, p.nEmbd], 'out', ffnOut);
    }
  }

  if (p.tiedOutput) f32('output_norm.weight', [p.nEmbd], { mean: 0, std: LOGIT_STD / (EMBED_STD * Math.sqrt(p.nEmbd)) });
  else norm('output_norm.weight', p.nEmbd);
  if (!p.tiedOutput) weight('output.weight', [p.nEmbd, nVocab], 'head');
  return out;
}

function weightInit(shape: number[], role: WeightRole, nEmbd: number, scale: number): TensorInit {
  const fanIn = shape[0]!;
  switch (role) {
    case 'in':
      return { mean: 0, std: 1 / Math.sqrt(fanIn) };
    case 'out':
      return { mean: 0, std: scale / Math.sqrt(fanIn) };
    case 'embed':
      return { mean: 0, std: EMBED_STD };
    case 'head':
      // Sees the unit-RMS output_norm'd residual: logits std ≈ LOGIT_STD.
      return { mean: 0, std: LOGIT_STD / Math.sqrt(nEmbd) };
  }
}

/** The converter falls back to F16 when a row does not fill whole quantization blocks. */
function storedType(shape: number[], weightType: WeightType): number {
  const info = WEIGHT_TYPE_INFO[weightType];
  return shape[0]! % ggmlTypeSize(info.ggmlType)!.blockSize === 0 ? info.ggmlType : GgmlType.F16;
}

export function tensorElements(t: { shape: number[] }): number {
  return t.shape.reduce((a, b) => a * b, 1);
}
