// Shared by the synth tests: temp directories and a CPU-only llama.cpp (node-llama-cpp's prebuilt
// binary, never compiled here) used as the reference loader.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';

export function makeTempDir(prefix = 'petrel-synth-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let llama: Promise<Llama> | undefined;

export function cpuLlama(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 2 });
  return llama;
}

export interface LogitsCheck {
  nVocab: number;
  finite: boolean;
  min: number;
  max: number;
  /** Logits of the last position. */
  logits: Float32Array;
}

/** Evaluates `tokens` in a fresh context and returns the last position's logits. */
export async function lastLogits(model: LlamaModel, tokens: number[]): Promise<LogitsCheck> {
  const context = await model.createContext({ contextSize: 256, batchSize: 256, threads: 2 });
  try {
    const sequence = context.getSequence();
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? ([t, { generateNext: { logits: true } }] as const) : t));
    const out = await sequence.controlledEvaluate(input as Parameters<typeof sequence.controlledEvaluate>[0]);
    const map = out[tokens.length - 1]?.next?.logits;
    if (!map) throw new Error('llama.cpp returned no logits');
    const logits = new Float32Array(map.size);
    let min = Infinity;
    let max = -Infinity;
    let finite = true;
    for (const [token, value] of map) {
      logits[token] = value;
      if (!Number.isFinite(value)) finite = false;
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    return { nVocab: map.size, finite, min, max, logits };
  } finally {
    await context.dispose();
  }
}
