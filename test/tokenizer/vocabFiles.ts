// Vocabulary-only GGUFs for tokenizer tests: the synth presets' metadata with no tensors
// (llama.cpp's vocab_only load never reads them), optionally with another tokenizer.ggml.pre.
import path from 'node:path';
import { LlamaLogLevel, type LlamaModel } from 'node-llama-cpp';
import { loadNative } from '../../src/native/index.js';
import { buildSynthModel } from '../../src/synth/index.js';
import { cpuLlama } from '../support/llamaOracle.js';

export async function writeVocabFile(dir: string, preset: 'tiny' | '0.8b', pre?: 'qwen2' | 'qwen35'): Promise<string> {
  const spec = buildSynthModel(preset, { layers: 2 }).spec;
  const metadata = spec.metadata.map((kv) => (kv.key === 'tokenizer.ggml.pre' && pre ? { ...kv, value: pre } : kv));
  const file = path.join(dir, `${preset}-${pre ?? 'default'}-vocab.gguf`);
  await loadNative().writeGguf(file, { ...spec, metadata, tensors: [] });
  return file;
}

/** llama.cpp's tokenizer for a vocabulary-only file. */
export async function llamaVocab(file: string): Promise<LlamaModel> {
  const llama = await cpuLlama();
  // node-llama-cpp first sizes the model with a full load, which logs an error for the missing
  // tensors before the vocabulary-only load succeeds.
  const logLevel = llama.logLevel;
  llama.logLevel = LlamaLogLevel.disabled;
  return llama.loadModel({ modelPath: file, vocabOnly: true }).finally(() => (llama.logLevel = logLevel));
}
