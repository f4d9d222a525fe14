// What a pull tells the user: a live display on a TTY (bytes, rate, ETA per file and in total), a few quiet
// lines otherwise, or one JSON object per line with --json (stdout stays machine-readable; notices go there too).
import { formatBytes } from '../format/numbers.js';

export type PullEvent =
  /** A size of -1 is not known yet (a plain URL): its 'start' event brings it. */
  | { event: 'resolved'; model: string; repo?: string; commit?: string; files: Array<{ path: string; size: number }> }
  | { event: 'check'; what: 'disk' | 'memory'; ok: boolean; need: number; have: number; detail?: string }
  /** resumable: an interruption keeps what arrived (false when the server does not take byte ranges). */
  | { event: 'start'; file: string; size: number; resumedBytes: number; resumable: boolean }
  /** bytes/size: this file; rate: bytes per second over the last seconds; totalBytes/totalSize: all files of the pull. */
  | { event: 'progress'; file: string; bytes: number; size: number; rate: number; totalBytes: number; totalSize: number }
  | { event: 'notice'; message: string }
  | { event: 'done'; file: string; size: number; sha256: string; seconds: number; cached: boolean }
  | { event: 'complete'; model: string; path: string };

export interface Reporter {
  emit(e: PullEvent): void;
  close(): void;
}

export function createReporter(mode: 'tty' | 'lines' | 'json', out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Reporter {
  if (mode === 'json') return { emit: (e) => out.write(JSON.stringify(e) + '\n'), close: () => undefined };
  return new HumanReporter(mode === 'tty', out, err);
}

class HumanReporter implements Reporter {
  private totalSize = 0;
  /** Files whose size comes with their 'start' event. */
  private unsized = new Set<string>();
  private doneBefore = 0;
  private current?: { file: string; size: number; bytes: number; started: number };
  /** Bytes per second, as the last progress event measured it. */
  private rate = 0;
  private drawn = 0;
  private lastDraw = 0;

  constructor(
    private readonly tty: boolean,
    private readonly out: NodeJS.WriteStream,
    private readonly err: NodeJS.WriteStream,
  ) {}

  emit(e: PullEvent): void {
    switch (e.event) {
      case 'resolved':
        this.totalSize = e.files.reduce((s, f) => s + Math.max(0, f.size), 0);
        this.unsized = new Set(e.files.filter((f) => f.size < 0).map((f) => f.path));
        this.line(
          `pulling ${e.model}${e.repo ? ` from ${e.repo}${e.commit ? `@${e.commit.slice(0, 10)}` : ''}` : ''}: ${e.files.length} file${e.files.length === 1 ? '' : 's'}` +
            (this.unsized.size === 0 ? `, ${formatBytes(this.totalSize)}` : ''),
        );
        break;
      case 'check':
        if (!e.ok) this.line(`warning: ${e.detail ?? e.what}`);
        break;
      case 'start':
        if (this.unsized.delete(e.file)) this.totalSize += e.size;
        this.current = { file: e.file, size: e.size, bytes: e.resumedBytes, started: Date.now() };
        this.rate = 0;
        if (!this.tty) this.line(`  ${e.file} (${formatBytes(e.size)})${e.resumedBytes ? `, resuming at ${formatBytes(e.resumedBytes)}` : ''}`);
        break;
      case 'progress':
        if (this.current) this.current.bytes = e.bytes;
        this.rate = e.rate;
        if (this.tty && Date.now() - this.lastDraw > 100) this.draw();
        break;
      case 'notice':
        this.line(`  ${e.message}`);
        break;
      case 'done':
        if (this.unsized.delete(e.file)) this.totalSize += e.size;
        if (this.tty) this.clear();
        this.doneBefore += e.size;
        this.current = undefined;
        this.line(`  ${e.cached ? 'have' : 'done'} ${e.file} (${formatBytes(e.size)}${e.cached ? '' : `, ${e.seconds.toFixed(1)} s, sha256 ok`})`);
        break;
      case 'complete':
        this.line(`${e.model} → ${e.path}`);
        break;
    }
  }

  close(): void {
    if (this.tty) this.clear();
  }

  private line(text: string): void {
    if (this.tty) this.clear();
    this.err.write(text + '\n');
    if (this.tty && this.current) this.draw();
  }

  private clear(): void {
    if (this.drawn > 0) this.err.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    const c = this.current;
    if (!c) return;
    this.lastDraw = Date.now();
    const rate = this.rate;
    const total = this.doneBefore + c.bytes;
    const lines = [
      `  ${c.file}  ${bar(c.bytes, c.size)} ${formatBytes(c.bytes)} / ${formatBytes(c.size)}  ${formatBytes(rate)}/s  ETA ${eta(c.size - c.bytes, rate)}`,
      `  total  ${formatBytes(total)} / ${formatBytes(this.totalSize)}  ETA ${eta(this.totalSize - total, rate)}`,
    ];
    const width = this.err.columns || 100;
    this.clear();
    this.err.write(lines.map((l) => l.slice(0, width - 1)).join('\n') + '\n');
    this.drawn = lines.length;
  }
}

/** Bytes per second over the last few seconds, so a stall shows as a falling rate rather than an average. */
export class RateMeter {
  private samples: Array<[number, number]> = [];
  add(bytes: number, now = Date.now()): void {
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
  }
  perSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last[0] === first[0]) return 0;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }
}

function bar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${total > 0 ? Math.floor((done / total) * 100) : 0}%`;
}

function eta(left: number, rate: number): string {
  if (rate <= 0) return '--:--';
  const s = Math.round(left / rate);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h > 0 ? `${h}:` : ''}${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
}
