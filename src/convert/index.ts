// Hugging Face checkpoint -> GGUF plan: everything llama.cpp's convert_hf_to_gguf.py decides (the
// architecture, metadata keys, tokenizer, tensor names, shapes, types and transforms), computed from
// config.json, the tokenizer files and the safetensors headers without reading any weights. The
// quantizer (src/quantize/) executes the plan: the native side streams the tensors out of the
// memory-mapped safetensors files, transforms them and quantizes them like any GGUF input.
import path from 'node:path';
import type { ConvertTensorPlan, GgufKv } from '../native/index.js';
import { readCheckpoint, type Checkpoint } from './checkpoint.js';
import { generalKvs, hparamKvs, sizeLabel, tokenizerKvs } from './ggufMetadata.js';
import { hparamsFromConfig, type ConvertHparams } from './hparams.js';
import { planTensors, type OutType } from './tensorPlan.js';
import { convertTokenizer } from './tokenizer.js';

export { isCheckpointDir } from './checkpoint.js';
export type { ConvertTensorPlan, ConvertPart, ConvertOp } from '../native/index.js';
export type { ConvertHparams } from './hparams.js';

export interface ConversionPlan {
  hparams: ConvertHparams;
  /** The output's metadata (general.file_type is set again by the quantizer). */
  metadata: GgufKv[];
  files: string[];
  tensors: ConvertTensorPlan[];
}

/**
 * Plans the conversion of the checkpoint in `dir` for the quantization type `type`: f32/f16/bf16 store
 * the 2-D weights as convert_hf_to_gguf.py --outtype does; any other type starts from the weights as
 * the checkpoint stores them (what quantizing convert's --outtype auto output would see).
 */
export function planConversion(dir: string, type: string): ConversionPlan {
  const ck: Checkpoint = readCheckpoint(dir);
  const hp = hparamsFromConfig(ck.config, ck.textConfig, path.join(dir, 'config.json'));
  // The MTP block is converted when the checkpoint carries it (llama.cpp's default, --no-mtp aside).
  if (hp.nNextn > 0 && !ck.tensors.has('mtp.fc.weight')) hp.nNextn = 0;
  if (hp.arch === 'qwen3next') hp.nNextn = 0;
  const t = type.toLowerCase();
  const outType: OutType = t === 'f32' || t === 'f16' || t === 'bf16' ? t : 'source';
  const tensors = planTensors(ck, hp, outType);
  const pre = hp.arch === 'qwen35' || hp.arch === 'qwen35moe' ? 'qwen35' : 'qwen2';
  const tokenizer = convertTokenizer(dir, ck.config, hp.nVocab, pre);
  const name = path.basename(path.resolve(dir));
  const metadata = [...generalKvs(hp.arch, name, sizeLabel(tensors)), ...hparamKvs(hp, 0), ...tokenizerKvs(tokenizer)];
  return { hparams: hp, metadata, files: ck.files, tensors };
}
