// A one-line progress display for long quantizations: percent, bytes, rate and ETA on stderr,
// redrawn at most ten times a second (only on a terminal).
import { formatBytes } from '../format/numbers.js';
import type { QuantizeProgress } from '../native/index.js';

export interface ProgressLine {
  update(p: QuantizeProgress): void;
  done(): void;
}

/** "1m 05s", "42s": a duration for the ETA. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** The text of one progress line (pure, for tests): elapsed seconds since the start. */
export function progressText(p: QuantizeProgress, elapsed: number): string {
  const frac = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 1;
  const rate = elapsed > 0 ? p.doneBytes / elapsed : 0;
  const eta = rate > 0 ? (p.totalBytes - p.doneBytes) / rate : NaN;
  return (
    `quantizing ${Math.floor(frac * 100)}% (${formatBytes(p.doneBytes)} / ${formatBytes(p.totalBytes)}, ` +
    `tensor ${Math.min(p.tensorIndex + 1, p.nTensors)}/${p.nTensors}, ${formatBytes(rate)}/s, ETA ${formatDuration(eta)})`
  );
}

export function progressLine(stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  const start = performance.now();
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 100 && p.doneBytes < p.totalBytes) return;
      last = now;
      drawn = true;
      stream.write(`\r\x1b[K${progressText(p, (now - start) / 1000)}`);
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
