// One file from an HTTP(S) URL into `dest`, never corrupt and always resumable:
// - data goes to `partial` (sized to the full length up front as a sparse file; the free-space check
//   before the pull is the guard) with its ranges recorded in `state` beside it, so an interruption or
//   a crash resumes where it stopped;
// - large files are fetched as parallel ranged segments; an idle connection steals half of the largest
//   remaining range, so one slow or stalled connection cannot hold up the end of the download;
// - SHA-256 runs while downloading over the contiguous prefix already on disk (read back from the page cache);
//   on resume the prefix written before is hashed again first, because a hash state cannot be saved;
// - `dest` appears only by an atomic rename after the size and the hash check out.
import { createHash } from 'node:crypto';
import { open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { discard, HttpStatusError, httpRequest, isRetryable, redact, retryDelay, type RequestOptions } from './http.js';
import { SegmentTable, type Segment, type SegmentState } from './segments.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DownloadTarget {
  url: string;
  /** Expected size in bytes; -1 when unknown (plain URLs): learned from the server. */
  size: number;
  /** Expected SHA-256 (hex); when absent the hub's X-Linked-Etag is used if it sends one. */
  sha256?: string;
  dest: string;
  partial: string;
  state: string;
}

export interface DownloadOptions {
  request: RequestOptions;
  connections: number;
  /** Files smaller than two of these are fetched over one connection. */
  minSegment: number;
  stallMs: number;
  retries: number;
  backoffMs: number;
  onProgress?: (bytesDone: number, total: number) => void;
  onNotice?: (message: string) => void;
  /** Called once the size is known and before any byte moves; resumedBytes are already on disk. */
  onStart?: (size: number, resumedBytes: number) => void;
  /** Replaceable for tests (a full disk); defaults to FileHandle.writev. */
  write?: (fh: FileHandle, buffers: Buffer[], position: number) => Promise<void>;
}

export interface DownloadResult {
  sha256: string;
  size: number;
  /** Bytes already on disk from an earlier attempt. */
  resumedBytes: number;
}

interface SavedState {
  version: 1;
  url: string;
  size: number;
  sha256?: string;
  segments: SegmentState[];
}

const WRITE_BATCH = 1 << 20;
const MAX_IN_FLIGHT = 4;
const HASH_CHUNK = 8 << 20;

export async function downloadFile(target: DownloadTarget, options: DownloadOptions): Promise<DownloadResult> {
  const signal = options.request.signal;
  let { size } = target;
  let expected = target.sha256?.toLowerCase();
  let ranged = true;
  if (size < 0) {
    const probe = await probe1(target.url, options);
    size = probe.size;
    ranged = probe.ranged;
    expected ??= probe.sha256;
  }

  const saved = ranged ? await loadState(target.state, size, expected) : undefined;
  const fh = await open(target.partial, saved ? 'r+' : 'w+');
  let hashPromise: Promise<string> | undefined;
  const table = new SegmentTable(saved?.segments ?? SegmentTable.plan(size, ranged ? options.connections : 1, options.minSegment));
  const resumedBytes = saved ? table.bytesDone : 0;
  options.onStart?.(size, resumedBytes);
  const persist = async () => {
    const state: SavedState = { version: 1, url: redact(target.url), size, ...(expected ? { sha256: expected } : {}), segments: table.snapshot() };
    await writeFile(target.state + '.tmp', JSON.stringify(state));
    await rename(target.state + '.tmp', target.state);
  };
  const failAll = new AbortController();
  const onAbort = () => failAll.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setInterval(() => void persist().catch(() => undefined), 1000);
  try {
    if (!saved) {
      await fh.truncate(size);
      if (ranged) await persist();
    }
    let downloaded = table.bytesDone;
    const hasher = new PrefixHasher(fh, size);
    hashPromise = hasher.run(() => table.contiguousEnd(), failAll.signal);
    hashPromise.catch(() => undefined);
    const write = options.write ?? ((h, bufs, pos) => h.writev(bufs, pos).then(() => undefined));
    const worker = async (): Promise<void> => {
      let attempts = 0;
      for (;;) {
        if (failAll.signal.aborted) return;
        const seg = table.claim(options.minSegment / 2);
        if (!seg) return;
        try {
          const before = seg.pos;
          await fetchSegment(target.url, seg, ranged, options, failAll.signal, (bufs, pos) => write(fh, bufs, pos), (bufs, pos, len) => {
            seg.pos = Math.max(seg.pos, Math.min(seg.end, pos + len));
            downloaded += Math.max(0, Math.min(seg.end, pos + len) - pos);
            options.onProgress?.(downloaded, size);
            hasher.offer(bufs, pos);
            hasher.wake();
          });
          if (seg.pos > before) attempts = 0;
          seg.assigned = false;
        } catch (err) {
          seg.assigned = false;
          if (failAll.signal.aborted) return;
          if ((err as { code?: string }).code === 'ENOSPC') {
            failAll.abort(err);
            throw new UserError(`disk full while writing ${target.dest}; free some space and pull again to resume`, 'ERR_USER_DISK_FULL', { cause: err });
          }
          if (seg.pos > 0 && !ranged) seg.pos = 0; // no Range support: start over
          attempts++;
          if (!isRetryable(err) || attempts > options.retries) {
            failAll.abort(err);
            throw err;
          }
          const delay = retryDelay(err, attempts, options.backoffMs);
          options.onNotice?.(`${describe(err)}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempts}/${options.retries})`);
          await sleep(delay, undefined, { signal: failAll.signal }).catch(() => undefined);
        }
      }
    };
    const workers = Array.from({ length: ranged ? Math.max(1, options.connections) : 1 }, () => worker());
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    if (!table.done) throw new Error('download stopped before all ranges were fetched');
    hasher.wake();
    const actual = await hashPromise;
    clearInterval(timer);
    await fh.close();
    if (expected && actual !== expected) {
      await rm(target.partial, { force: true });
      await rm(target.state, { force: true });
      throw new UserError(
        `${target.dest}: SHA-256 mismatch (expected ${expected}, got ${actual}); the damaged download was deleted, pull again to retry`,
        'ERR_USER_HASH_MISMATCH',
      );
    }
    await rename(target.partial, target.dest);
    await rm(target.state, { force: true });
    return { sha256: actual, size, resumedBytes };
  } catch (err) {
    failAll.abort(err);
    clearInterval(timer);
    await hashPromise?.catch(() => undefined);
    // Keep what is on disk and where it is, so the next pull resumes.
    if (ranged) await persist().catch(() => undefined);
    await fh.close().catch(() => undefined);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Streams [seg.pos, seg.end) to disk. Reading continues while up to MAX_IN_FLIGHT writes are pending, so the
 * network and the disk overlap; `commit` runs in file order once a write is done (seg.pos only moves then).
 * Stops early when a thief lowers seg.end.
 */
async function fetchSegment(
  url: string,
  seg: Segment,
  ranged: boolean,
  options: DownloadOptions,
  signal: AbortSignal,
  write: (bufs: Buffer[], pos: number) => Promise<void>,
  commit: (bufs: Buffer[], pos: number, len: number) => void,
): Promise<void> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const inFlight: Array<{ done: Promise<void>; bufs: Buffer[]; pos: number; len: number }> = [];
  // After one failed write nothing later may be committed, or the range would claim a hole.
  let writeFailed = false;
  const settleOldest = async () => {
    const w = inFlight.shift()!;
    try {
      await w.done;
    } catch (err) {
      writeFailed = true;
      throw err;
    } finally {
      seg.pending -= w.len;
    }
    if (!writeFailed) commit(w.bufs, w.pos, w.len);
  };
  let pos = seg.pos;
  let batch: Buffer[] = [];
  let batchLen = 0;
  const flush = async () => {
    if (batchLen > 0) {
      const w = { done: write(batch, pos), bufs: batch, pos, len: batchLen };
      w.done.catch(() => undefined);
      inFlight.push(w);
      seg.pending += batchLen;
      pos += batchLen;
      batch = [];
      batchLen = 0;
    }
    while (inFlight.length > MAX_IN_FLIGHT) await settleOldest();
  };
  try {
    const headers: Record<string, string> = ranged ? { range: `bytes=${seg.pos}-${seg.end - 1}` } : {};
    const res = await httpRequest(url, {
      ...options.request,
      headers: { ...options.request.headers, ...headers, 'accept-encoding': 'identity' },
      signal: controller.signal,
      headersTimeoutMs: options.stallMs,
      bodyTimeoutMs: options.stallMs,
    });
    if (ranged && res.status !== 206) {
      discard(res.body);
      throw new UserError(`${redact(url)} ignored the byte range request (HTTP ${res.status}); cannot download in segments`, 'ERR_USER_HTTP');
    }
    let lastFlush = Date.now();
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let data = chunk;
        const room = seg.end - (pos + batchLen);
        if (data.length > room) data = data.subarray(0, Math.max(0, room));
        if (data.length > 0) {
          batch.push(data);
          batchLen += data.length;
        }
        // Big writes for speed, but on a slow link at least every 250 ms so an interruption loses little.
        if (batchLen >= WRITE_BATCH || Date.now() - lastFlush > 250) {
          await flush();
          lastFlush = Date.now();
        }
        if (pos + batchLen >= seg.end) break; // the rest was stolen or the range is complete
      }
    } catch (err) {
      // What arrived before the cut is good data: keep it so the retry starts after it.
      await flush().catch(() => undefined);
      while (inFlight.length) await settleOldest().catch(() => undefined);
      throw err;
    }
    await flush();
    while (inFlight.length) await settleOldest();
    if (seg.pos < seg.end) throw Object.assign(new Error(`connection closed at byte ${seg.pos} of ${seg.end}`), { code: 'ERR_SHORT_BODY' });
  } finally {
    // A failed write leaves others pending: wait for them before the file handle can be closed.
    await Promise.allSettled(inFlight.map((w) => w.done));
    seg.pending = 0;
    signal.removeEventListener('abort', onAbort);
    controller.abort(); // releases the socket when we stopped early
  }
}

/** Learns size, Range support and the hub's hash when the caller does not know them (plain URLs). */
async function probe1(url: string, options: DownloadOptions): Promise<{ size: number; ranged: boolean; sha256?: string }> {
  const res = await httpRequest(url, { ...options.request, headers: { ...options.request.headers, range: 'bytes=0-0' } });
  discard(res.body);
  const linked = String(res.firstHeaders['x-linked-etag'] ?? res.firstHeaders.etag ?? '').replace(/^W\//, '').replace(/"/g, '');
  const sha256 = /^[0-9a-f]{64}$/.test(linked) ? linked : undefined;
  const range = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
  if (res.status === 206 && range) return { size: Number(range[1]), ranged: true, ...(sha256 ? { sha256 } : {}) };
  const length = Number(res.headers['content-length'] ?? NaN);
  if (!Number.isFinite(length)) throw new UserError(`${redact(url)} sent no size; cannot download it safely`, 'ERR_USER_HTTP');
  return { size: length, ranged: false, ...(sha256 ? { sha256 } : {}) };
}

async function loadState(file: string, size: number, sha256: string | undefined): Promise<SavedState | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as SavedState;
    const valid =
      s.version === 1 &&
      s.size === size &&
      s.sha256 === sha256 &&
      Array.isArray(s.segments) &&
      s.segments.every((g) => Number.isSafeInteger(g.start) && g.start <= g.pos && g.pos <= g.end && g.end <= size);
    return valid ? s : undefined;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  if (err instanceof HttpStatusError) return err.message;
  const e = err as { code?: string; message?: string };
  return e.code ? `${e.code}` : (e.message ?? String(err));
}

/**
 * SHA-256 of the file in order. Data that lands right at the hashed prefix is hashed from memory as it is
 * committed (the common case: one connection, or the first segment); the rest is read back from the page
 * cache once the contiguous prefix reaches it.
 */
class PrefixHasher {
  private hashed = 0;
  private reading = false;
  private readonly hash = createHash('sha256');
  private waiting: (() => void) | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  offer(bufs: Buffer[], pos: number): void {
    if (this.reading || pos !== this.hashed) return;
    for (const b of bufs) {
      const take = Math.min(b.length, this.size - this.hashed);
      this.hash.update(take === b.length ? b : b.subarray(0, take));
      this.hashed += take;
    }
  }

  async run(prefix: () => number, signal: AbortSignal): Promise<string> {
    const buf = Buffer.allocUnsafe(HASH_CHUNK);
    while (this.hashed < this.size) {
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      const end = prefix();
      if (end <= this.hashed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener('abort', done);
            this.waiting = undefined;
            resolve();
          };
          this.waiting = done;
          signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      const len = Math.min(HASH_CHUNK, end - this.hashed);
      this.reading = true;
      try {
        const { bytesRead } = await this.fh.read(buf, 0, len, this.hashed);
        if (bytesRead <= 0) throw new Error(`short read at ${this.hashed} while hashing`);
        this.hash.update(buf.subarray(0, bytesRead));
        this.hashed += bytesRead;
      } finally {
        this.reading = false;
      }
    }
    return this.hash.digest('hex');
  }
}
