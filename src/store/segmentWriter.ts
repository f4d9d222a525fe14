// Bytes of one segment from the socket to the file: reads land in large shared buffers (slabs), each slab goes
// to disk with one positional write, and writes are committed in file order (only then does the segment's
// position move, the hasher see the bytes, and the slab return to the pool once the hasher is done with it).
// Reading pauses while a segment has MAX_IN_FLIGHT writes pending or no slab is free, so memory stays bounded.
import type { BodySink } from './dispatchGet.js';
import type { Segment } from './segments.js';

// Small enough that the buffers in use stay in the CPU cache between the socket read, the write to the page
// cache and the hash: with 4 MiB slabs each byte also went through main memory, and on a busy machine the
// extra copies cost more than the hash (docs/PERFORMANCE.md#downloads).
export const SLAB_BYTES = 512 << 10;
/** A slab with less room than this is written out rather than offered for another read. */
const MIN_REGION = 64 << 10;
const MAX_IN_FLIGHT = 8;
/** On a slow link, write at least this often so an interruption loses little. */
const FLUSH_MS = 250;

/** Slabs backed by SharedArrayBuffers, so the hash worker reads them without a copy. */
export class SlabPool {
  private readonly free: Buffer[] = [];
  private made = 0;
  private readonly waiting = new Set<() => void>();

  constructor(private readonly limit: number) {}

  /** A free slab, or undefined when `limit` are in use (force: make one anyway). */
  take(force = false): Buffer | undefined {
    const slab = this.free.pop();
    if (slab) return slab;
    if (this.made >= this.limit && !force) return undefined;
    this.made++;
    return Buffer.from(new SharedArrayBuffer(SLAB_BYTES));
  }

  give(slab: Buffer): void {
    this.free.push(slab);
    for (const wake of this.waiting) wake();
  }

  /** Calls wake whenever a slab comes back, until the returned function is called. */
  watch(wake: () => void): () => void {
    this.waiting.add(wake);
    return () => this.waiting.delete(wake);
  }
}

export interface SegmentIo {
  pool: SlabPool;
  /** Writes all of data at pos. */
  write(data: Buffer, pos: number): Promise<void>;
  /** data is on disk at pos (called in file order); the returned promise says when data's memory may be reused. */
  commit(data: Buffer, pos: number): Promise<void> | undefined;
}

interface PendingWrite {
  slab: Buffer;
  data: Buffer;
  pos: number;
  settled: boolean;
  error?: unknown;
}

export class SegmentSink implements BodySink {
  private slab?: Buffer;
  private filled = 0;
  /** File position of slab[0]. */
  private slabPos: number;
  private readonly inFlight: PendingWrite[] = [];
  private lastFlush = Date.now();
  private spareRegion?: Buffer;
  private drained?: () => void;
  /** The first failed write: nothing after it may be committed, or the range would claim a hole. */
  error?: unknown;
  /** Set by the reader: continue reading after landed() returned false. */
  onResume?: () => void;
  /** Set by the reader: stop reading and close the connection (the range is complete, a thief took the rest, or a write failed). */
  onStop?: () => void;
  private paused = false;
  private unwatch?: () => void;

  constructor(
    private readonly seg: Segment,
    private readonly io: SegmentIo,
  ) {
    this.slabPos = seg.pos;
  }

  /** All bytes up to the segment's end (which a thief may lower) have been received. */
  get complete(): boolean {
    return this.slabPos + this.filled >= this.seg.end;
  }

  region(): Buffer {
    const room = this.seg.end - (this.slabPos + this.filled);
    if (room <= 0 || this.error) return (this.spareRegion ??= Buffer.allocUnsafe(MIN_REGION)); // read and dropped
    // A read that comes while paused (node asks for the next buffer at once) may force one slab beyond the limit.
    this.slab ??= this.io.pool.take(true)!;
    return this.slab.subarray(this.filled, Math.min(SLAB_BYTES, this.filled + room));
  }

  landed(n: number): boolean {
    if (this.error) return false;
    const keep = Math.max(0, Math.min(n, this.seg.end - (this.slabPos + this.filled)));
    if (keep > 0 && this.slab) {
      this.filled += keep;
      this.seg.pending += keep; // held here: a thief must not take these bytes
    }
    if (this.complete || SLAB_BYTES - this.filled < MIN_REGION || Date.now() - this.lastFlush > FLUSH_MS) this.flush();
    if (this.complete) {
      this.onStop?.();
      return false;
    }
    return this.canRead();
  }

  /** Sends what the current slab holds to disk. */
  flush(): void {
    this.lastFlush = Date.now();
    const slab = this.slab;
    if (!slab) return;
    this.slab = undefined;
    const filled = this.filled;
    const pos = this.slabPos;
    this.slabPos += filled;
    this.filled = 0;
    if (filled === 0 || this.error) {
      this.seg.pending -= filled;
      return this.io.pool.give(slab);
    }
    const w: PendingWrite = { slab, data: slab.subarray(0, filled), pos, settled: false };
    this.inFlight.push(w);
    this.io.write(w.data, pos).then(
      () => this.settle(w),
      (err: unknown) => this.settle(w, err),
    );
  }

  /** Resolves once every write has settled; rejects with the first write error. */
  async done(): Promise<void> {
    this.flush();
    this.unwatch?.();
    if (this.inFlight.length > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    if (this.error) throw this.error;
  }

  private canRead(): boolean {
    let ok = !this.error && this.inFlight.length < MAX_IN_FLIGHT;
    if (ok && !this.slab && !this.complete) {
      this.slab = this.io.pool.take();
      ok = this.slab !== undefined;
      // Waiting for a slab another segment holds: wake up when the pool gets one back.
      if (!ok) this.unwatch ??= this.io.pool.watch(() => this.maybeResume());
    }
    if (ok) {
      this.unwatch?.();
      this.unwatch = undefined;
    }
    this.paused = !ok;
    return ok;
  }

  private settle(w: PendingWrite, err?: unknown): void {
    w.settled = true;
    w.error = err;
    while (this.inFlight.length > 0 && this.inFlight[0]!.settled) {
      const done = this.inFlight.shift()!;
      this.seg.pending -= done.data.length;
      if (done.error !== undefined && this.error === undefined) {
        this.error = done.error;
        this.onStop?.();
      }
      if (this.error !== undefined) {
        this.io.pool.give(done.slab);
        continue;
      }
      const end = Math.min(this.seg.end, done.pos + done.data.length);
      this.seg.pos = Math.max(this.seg.pos, end);
      const released = end > done.pos ? this.io.commit(done.data.subarray(0, end - done.pos), done.pos) : undefined;
      if (released) void released.then(() => this.release(done.slab));
      else this.release(done.slab);
    }
    if (this.inFlight.length === 0) this.drained?.();
    this.maybeResume();
  }

  private release(slab: Buffer): void {
    this.io.pool.give(slab);
    this.maybeResume();
  }

  private maybeResume(): void {
    if (this.paused && !this.error && this.canRead()) this.onResume?.();
  }
}
