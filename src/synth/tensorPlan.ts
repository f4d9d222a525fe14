// Every tensor of a synthetic model: the names, ggml shapes (ne0 = row length first) and types
// llama.cpp's converter produces for qwen35 / qwen35moe (qwen35-gguf.md §2), and the statistics of
// the random values. Random weights make the converter's value transforms (q/gate interleave,
// tiled V-head order, norm +1, ssm_a = -exp(A_log)) a matter of distribution, not layout:
// norms are drawn around 1, ssm_a is drawn as -exp(N), everything else around 0.
//
// Scales keep a deep random model numerically tame: input projections have std 1/sqrt(fan_in)
// (unit-variance outputs from the unit-RMS normed residual), output projections half that, so each
// block adds a moderate update; RMSNorm bounds the rest. Logits come out with std ≈ 3.
import { isRecurrentLayer, type SynthPreset } from './presets.js';
import { GgmlType, WEIGHT_TYPE_INFO, type WeightType } from './weightTypes.js';

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
type WeightRole = 'in' | 'out' | 'embed';

export function planTensors(p: SynthPreset, nVocab: number, weightType: WeightType): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  const f32 = (name: string, shape: number[], init: TensorInit) => out.push({ name, shape, type: GgmlType.F32, init });
  const norm = (name: string, n: number) => f32(name, [n], { mean: 1, std: 0.1 });
  const weight = (name: string, shape: number[], role: WeightRole) =>
    out.push({ name, shape, type: storedType(shape, weightType), init: weightInit(shape, role, p.nEmbd) });

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
      weight(`${blk}ssm_out.weight`, [valueDim, p.nEmbd], 'out');
    } else {
      // Rows of attn_q interleave per head: [q_h (headDim) | gate_h (headDim)].
      weight(`${blk}attn_q.weight`, [p.nEmbd, 2 * p.nHead * p.headDim], 'in');
      weight(`${blk}attn_k.weight`, [p.nEmbd, p.nHeadKv * p.headDim], 'in');
      weight(`${blk}attn_v.weight`, [p.nEmbd, p.nHeadKv * p.headDim], 'in');
      weight(`${blk}attn_output.weight`, [p.nHead * p.headDim, p.nEmbd], 'out');
      norm(`${blk}attn_q_norm.weight`, p.headDim);
      norm(`${blk}attn_k_norm.weight`, p.headDim);
    }
    norm(`${blk}post_attention_norm.weight`, p.nEmbd);
    if (p.moe) {
      const { nExpert, nFfExp, nFfShexp } = p.moe;
      // The router stays F32, as the converter and llama-quantize keep it.
      f32(`${blk}ffn_gate_inp.weight`, [p.nEmbd, nExpert], inputInit);
      weight(`${blk}ffn_gate_exps.weight`, [p.nEmbd, nFfExp, nExpert], 'in');
      weight(`${blk}ffn_up_exps.weight`, [p.nEmbd, nFfExp, nExpert], 'in');
      weight(`${blk}ffn_down_exps.weight`, [nFfExp, p.nEmbd, nExpert], 'out');
      f32(`${blk}ffn_gate_inp_shexp.weight`, [p.nEmbd], inputInit);
      weight(`${blk}ffn_gate_shexp.weight`, [p.nEmbd, nFfShexp], 'in');
      weight(`${blk}ffn_up_shexp.weight`, [p.nEmbd, nFfShexp], 'in');
      weight(`${blk}ffn_down_shexp.weight`, [nFfShexp, p.nEmbd], 'out');
    } else {
      const nFf = p.nFf!;
      weight(`${blk}ffn_gate.weight`, [p.nEmbd, nFf], 'in');
      weight(`${blk}ffn_up.weight`, [p.nEmbd, nFf], 'in');
      weight(`${blk}ffn_down.weight`, [nFf, p.nEmbd], 'out');
    }
  }

  norm('output_norm.weight', p.nEmbd);
  if (!p.tiedOutput) weight('output.weight', [p.nEmbd, nVocab], 'embed');
  return out;
}

function weightInit(shape: number[], role: WeightRole, nEmbd: number): TensorInit {
  const fanIn = shape[0]!;
  switch (role) {
    case 'in':
      return { mean: 0, std: 1 / Math.sqrt(fanIn) };
    case 'out':
      return { mean: 0, std: 0.5 / Math.sqrt(fanIn) };
    case 'embed':
      // Tied or not, the LM head sees a unit-RMS vector: logits std ≈ 3.
      return { mean: 0, std: 3 / Math.sqrt(nEmbd) };
  }
}

/** The converter falls back to F16 when a row does not fill whole quantization blocks. */
function storedType(shape: number[], weightType: WeightType): number {
  const info = WEIGHT_TYPE_INFO[weightType];
  return shape[0]! % info.blockSize === 0 ? info.ggmlType : GgmlType.F16;
}

export function tensorElements(t: { shape: number[] }): number {
  return t.shape.reduce((a, b) => a * b, 1);
}
