// The progress line of `petrel bench` on stderr: on a terminal one line redrawn in place (cleared
// before each result row reaches stdout); elsewhere nothing, or with --progress one plain line per
// step, like llama-bench's --progress.
import path from 'node:path';
import type { DefaultModelStep } from './defaultModel.js';
import type { BenchProgress } from './runner.js';

export interface ProgressSink {
  show(text: string): void;
  /** Removes the line (before other output, and at the end). */
  clear(): void;
}

export function progressSink(stream: NodeJS.WriteStream, forcePlain: boolean): ProgressSink {
  if (stream.isTTY) {
    let shown = false;
    let last = '';
    return {
      show(text) {
        if (text === last) return;
        last = text;
        shown = true;
        stream.write(`\r\x1b[K${text.slice(0, Math.max(20, (stream.columns ?? 80) - 1))}`);
      },
      clear() {
        if (shown) stream.write('\r\x1b[K');
        shown = false;
        last = '';
      },
    };
  }
  if (forcePlain) {
    let last = '';
    return {
      show(text) {
        if (text !== last) stream.write(`petrel bench: ${text}\n`);
        last = text;
      },
      clear() {},
    };
  }
  return { show() {}, clear() {} };
}

export function describeProgress(p: BenchProgress): string {
  const model = path.basename(p.model.filename);
  if (p.phase === 'load') return `loading ${model} (${p.engine})`;
  const at = `[${p.index}/${p.total}]`;
  if (p.phase === 'depth') return `${at} ${model}: filling the context (${p.engine})`;
  if (p.phase === 'warmup') return `${at} ${p.test}: ${p.engine} warm-up`;
  return `${at} ${p.test}: ${p.engine} run ${p.rep}/${p.reps}`;
}

export const DEFAULT_MODEL_NOTE = 'making the default model (synthetic Qwen3.5-0.8B shape, Q4_K_M; once, then cached)';

export function describeDefaultModelStep(s: DefaultModelStep): string {
  if (s.step === 'synth') return `${DEFAULT_MODEL_NOTE}: writing F16 ${s.total > 0 ? Math.floor((100 * s.done) / s.total) : 0}%`;
  return `${DEFAULT_MODEL_NOTE}: quantizing${s.fraction !== undefined ? ` ${Math.floor(100 * s.fraction)}%` : ''}`;
}
