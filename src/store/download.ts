// One file from an HTTP(S) URL into `dest`, never corrupt and always resumable:
// - data goes to `partial` (sized to the full length up front as a sparse file; the free-space check
//   before the pull is the guard) with its ranges recorded in `state` beside it, so an interruption or
//   a crash resumes where it stopped;
// - it starts with one connection and opens more (up to `connections`) while the transfer is slower than
//   FAST_LINK: parallel segments help only when one connection is slow, and on a fast link one connection
//   lets the hash follow the download instead of waiting for the first segment; a new connection steals half
//   of the largest remaining range, so one slow or stalled connection cannot hold up the end of the download;
// - bodies come through undici's dispatch() (dispatchGet.ts, keep-alive, proxies) and are copied chunk by chunk
//   into shared buffers written with one positional write each (segmentWriter.ts); SHA-256 runs on a worker
//   thread over the file in order (prefixHasher.ts), on resume starting with the prefix written before;
// - `dest` appears only by an atomic rename after the size and the hash check out.
import { open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { dispatchGet } from './dispatchGet.js';
import { drain, HttpStatusError, httpRequest, isRetryable, redact, retryDelay } from './http.js';
import type { RequestOptions } from './http.js';
import { PrefixHasher } from './prefixHasher.js';
import { SegmentSink, SlabPool, type SegmentIo } from './segmentWriter.js';
import { SegmentTable, type Segment, type SegmentState } from './segments.js';

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
  /** The most parallel connections (segments) per file. */
  connections: number;
  /** A connection steals only a range of at least two of these. */
  minSegment: number;
  /** Below this many bytes per second another connection is opened (default FAST_LINK). */
  fastLink?: number;
  stallMs: number;
  retries: number;
  backoffMs: number;
  onProgress?: (bytesDone: number, total: number) => void;
  onNotice?: (message: string) => void;
  /**
   * Called once the size is known and before any byte moves; resumedBytes are already on disk. resumable: an
   * interruption keeps what arrived (the server takes byte ranges).
   */
  onStart?: (size: number, resumedBytes: number, resumable: boolean) => void;
  /** Replaceable for tests (a full disk); defaults to positional FileHandle.write calls. */
  write?: (fh: FileHandle, data: Buffer, position: number) => Promise<void>;
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

/** Past this rate the disk and the hash are the limit, not the connection: more connections would not help. */
const FAST_LINK = 256 << 20;
/** How often the rate is measured to decide on another connection. */
const RAMP_MS = 500;

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

  let saved = ranged ? await loadState(target.state, size, expected) : undefined;
  let fh: FileHandle;
  try {
    fh = await open(target.partial, saved ? 'r+' : 'w+');
  } catch (err) {
    // A state file whose data is gone (deleted by hand, or left by a failed download) describes nothing: start over.
    if (!saved || (err as { code?: string }).code !== 'ENOENT') throw err;
    saved = undefined;
    fh = await open(target.partial, 'w+');
  }
  // The partial file is ours while its path still names this inode; once someone deletes it (or another pull
  // recreates it after the lock went with it) nothing of ours may be written beside it or renamed into place.
  const mine = await fh.stat();
  const stillMine = async () => {
    try {
      const now = await stat(target.partial);
      return now.ino === mine.ino && now.dev === mine.dev;
    } catch {
      return false;
    }
  };
  const removed = () =>
    new UserError(`${target.dest}: the partial download was removed while it was being downloaded; pull again to start over`, 'ERR_USER_REMOVED');
  // Fresh downloads start as one range; more connections split it by stealing when the link is slow.
  const table = new SegmentTable(saved?.segments ?? SegmentTable.plan(size, 1, options.minSegment));
  const resumedBytes = saved ? table.bytesDone : 0;
  options.onStart?.(size, resumedBytes, ranged);
  // Set once the partial data is deleted (hash mismatch), renamed into place, or no longer ours: from then on
  // no state may be written, or the next pull would "resume" data that is not there.
  let finished = false;
  let lost = false;
  let persisting: Promise<void> = Promise.resolve();
  const persist = (): Promise<void> => {
    const p = persisting.then(async () => {
      if (finished || lost) return;
      if (!(await stillMine())) {
        lost = true;
        return;
      }
      const state: SavedState = { version: 1, url: redact(target.url), size, ...(expected ? { sha256: expected } : {}), segments: table.snapshot() };
      await writeFile(target.state + '.tmp', JSON.stringify(state));
      await rename(target.state + '.tmp', target.state);
    });
    persisting = p.catch(() => undefined);
    return p;
  };
  const failAll = new AbortController();
  const onAbort = () => failAll.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setInterval(() => {
    void persist()
      .catch(() => undefined)
      .then(() => {
        if (lost) failAll.abort(removed());
      });
  }, 1000);
  let ramp: NodeJS.Timeout | undefined;
  const hasher = new PrefixHasher(target.partial, size);
  try {
    if (!saved) {
      await fh.truncate(size);
      if (ranged) await persist();
    }
    let downloaded = table.bytesDone;
    hasher.advance(table.contiguousEnd());
    const write = options.write ?? writeAll;
    const maxConnections = ranged ? Math.max(1, options.connections) : 1;
    const io: SegmentIo = {
      pool: new SlabPool(8 + 12 * maxConnections), // 4 + 6 MiB per connection
      write: (data, pos) => write(fh, data, pos),
      commit: (data, pos) => {
        downloaded += data.length;
        options.onProgress?.(downloaded, size);
        const released = hasher.offer(data, pos);
        hasher.advance(table.contiguousEnd());
        return released;
      },
    };
    const worker = async (): Promise<void> => {
      let attempts = 0;
      for (;;) {
        if (failAll.signal.aborted) return;
        const seg = table.claim(options.minSegment / 2);
        if (!seg) return;
        try {
          const before = seg.pos;
          await fetchSegment(target.url, seg, ranged, options, failAll.signal, io);
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
    let active = 0;
    const running: Promise<void>[] = [];
    const start = () => {
      active++;
      running.push(worker().finally(() => active--));
    };
    start();
    if (maxConnections > 1) {
      let lastBytes = downloaded;
      let lastTime = Date.now();
      ramp = setInterval(() => {
        const now = Date.now();
        const rate = ((downloaded - lastBytes) * 1000) / Math.max(1, now - lastTime);
        [lastBytes, lastTime] = [downloaded, now];
        if (rate < (options.fastLink ?? FAST_LINK) && active < maxConnections && !failAll.signal.aborted && !table.done) start();
      }, RAMP_MS);
    }
    const results: PromiseSettledResult<void>[] = [];
    // A worker may be added while waiting: wait until every one has finished.
    for (let i = 0; i < running.length; i++) [results[i]] = await Promise.allSettled([running[i]!]);
    clearInterval(ramp);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (failAll.signal.aborted && failAll.signal.reason instanceof UserError) throw failAll.signal.reason;
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    if (!table.done) throw new Error('download stopped before all ranges were fetched');
    const actual = await hasher.finish();
    clearInterval(timer);
    await persisting;
    await fh.close();
    if (!(await stillMine())) throw removed();
    if (expected && actual !== expected) {
      finished = true;
      await rm(target.partial, { force: true });
      await rm(target.state, { force: true });
      throw new UserError(
        `${target.dest}: SHA-256 mismatch (expected ${expected}, got ${actual}); the damaged download was deleted, pull again to retry`,
        'ERR_USER_HASH_MISMATCH',
      );
    }
    finished = true;
    await rename(target.partial, target.dest);
    await rm(target.state, { force: true });
    return { sha256: actual, size, resumedBytes };
  } catch (err) {
    failAll.abort(err);
    clearInterval(timer);
    clearInterval(ramp);
    await hasher.close();
    await persisting;
    await fh.close().catch(() => undefined);
    if (finished) throw err;
    if (lost || !(await stillMine())) throw err instanceof UserError && err.code === 'ERR_USER_REMOVED' ? err : removed();
    // Keep what is on disk and where it is, so the next pull resumes; without Range support there is no resuming.
    if (ranged) await persist().catch(() => undefined);
    else await rm(target.partial, { force: true });
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let off = 0; off < data.length; ) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}

/**
 * Streams [seg.pos, seg.end) to disk through a SegmentSink (seg.pos moves as writes complete, in file order).
 * Stops early when a thief lowers seg.end.
 */
async function fetchSegment(url: string, seg: Segment, ranged: boolean, options: DownloadOptions, signal: AbortSignal, io: SegmentIo): Promise<void> {
  const sink = new SegmentSink(seg, io);
  const request = {
    ...options.request,
    headers: { ...options.request.headers, ...(ranged ? { range: `bytes=${seg.pos}-${seg.end - 1}` } : {}), 'accept-encoding': 'identity' },
    signal,
    stallMs: options.stallMs,
    accept: (status: number) => {
      if (ranged && status !== 206) throw ignoredRange(url, status);
    },
  };
  try {
    await dispatchGet(url, request, sink);
    await sink.done();
  } catch (err) {
    // What arrived before the cut is good data: keep it so the retry starts after it.
    await sink.done().catch(() => undefined);
    throw err;
  } finally {
    seg.pending = 0;
  }
  if (seg.pos < seg.end) throw Object.assign(new Error(`connection closed at byte ${seg.pos} of ${seg.end}`), { code: 'ERR_SHORT_BODY' });
}

function ignoredRange(url: string, status: number): UserError {
  return new UserError(`${redact(url)} ignored the byte range request (HTTP ${status}); cannot download in segments`, 'ERR_USER_HTTP');
}

/** Learns size, Range support and the hub's hash when the caller does not know them (plain URLs). */
async function probe1(url: string, options: DownloadOptions): Promise<{ size: number; ranged: boolean; sha256?: string }> {
  const res = await httpRequest(url, { ...options.request, headers: { ...options.request.headers, range: 'bytes=0-0' } });
  await drain(res.body);
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
