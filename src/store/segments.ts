// The byte ranges of one download and who is fetching them. Pure bookkeeping, no I/O:
// planning, claiming, work stealing (halving the largest remaining range), and the contiguous prefix
// that the sequential SHA-256 may consume.

export interface Segment {
  start: number;
  /** Bytes before pos are on disk. */
  pos: number;
  /** Exclusive; lowered when another worker steals the tail. */
  end: number;
  /** Bytes handed to a write that has not completed yet (a thief must not take them). */
  pending: number;
  assigned: boolean;
}

export interface SegmentState {
  start: number;
  pos: number;
  end: number;
}

export class SegmentTable {
  readonly segments: Segment[];

  constructor(saved: SegmentState[]) {
    this.segments = saved.map((s) => ({ ...s, pos: Math.min(s.pos, s.end), pending: 0, assigned: false }));
    this.segments.sort((a, b) => a.start - b.start);
  }

  /** Equal ranges, at most `connections`, none smaller than minSegment (one range for small files). */
  static plan(size: number, connections: number, minSegment: number): SegmentState[] {
    const n = Math.max(1, Math.min(connections, Math.floor(size / minSegment)));
    const step = Math.ceil(size / n);
    const out: SegmentState[] = [];
    for (let start = 0; start < size; start += step) out.push({ start, pos: start, end: Math.min(size, start + step) });
    if (out.length === 0) out.push({ start: 0, pos: 0, end: 0 });
    return out;
  }

  get done(): boolean {
    return this.segments.every((s) => s.pos >= s.end);
  }

  get bytesDone(): number {
    return this.segments.reduce((sum, s) => sum + (Math.min(s.pos, s.end) - s.start), 0);
  }

  /** An unfinished range nobody is fetching, else half of the largest range in flight (work stealing). */
  claim(minSteal: number): Segment | undefined {
    const free = this.segments.find((s) => !s.assigned && s.pos < s.end);
    if (free) {
      free.assigned = true;
      return free;
    }
    let victim: Segment | undefined;
    for (const s of this.segments) {
      const left = s.end - s.pos - s.pending;
      if (s.assigned && left >= 2 * minSteal && (!victim || left > victim.end - victim.pos - victim.pending)) victim = s;
    }
    if (!victim) return undefined;
    const from = victim.pos + victim.pending;
    // Split on a 64 KiB boundary so ranges stay aligned for the disk.
    const mid = Math.min(victim.end - minSteal, Math.ceil((from + (victim.end - from) / 2) / 65536) * 65536);
    const stolen: Segment = { start: mid, pos: mid, end: victim.end, pending: 0, assigned: true };
    victim.end = mid;
    this.segments.push(stolen);
    this.segments.sort((a, b) => a.start - b.start);
    return stolen;
  }

  /** End of the data that is on disk without a gap from byte 0. */
  contiguousEnd(): number {
    let end = 0;
    for (const s of this.segments) {
      if (s.start > end) break;
      end = Math.max(end, Math.min(s.pos, s.end));
      if (s.pos < s.end) break;
    }
    return end;
  }

  snapshot(): SegmentState[] {
    return this.segments.map((s) => ({ start: s.start, pos: Math.min(s.pos, s.end), end: s.end }));
  }
}
