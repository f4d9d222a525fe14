// `petrel pull`: reference → repository files → disk and memory checks → locked, verified downloads into the
// Hugging Face cache → snapshot links and refs/<revision>, exactly as huggingface_hub lays them out.
import { existsSync } from 'node:fs';
import { mkdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../format/numbers.js';
import { UserError } from '../errors.js';
import { storeConfig, type StoreConfig } from './config.js';
import { downloadFile } from './download.js';
import { diskMargin, estimateMemory, freeDiskBytes, machineMemory } from './fit.js';
import { HttpStatusError, networkError, redact } from './http.js';
import { HubClient, hubError, type HubFile } from './hub.js';
import { acquireLock } from './lock.js';
import { blobLinkTarget, repoPaths, urlCachePath, urlSourcePath } from './paths.js';
import { RateMeter, type Reporter } from './progress.js';
import { describeRef, parseModelRef, type ModelRef } from './reference.js';
import { loadRegistry } from './registry.js';
import { fileSystemError } from './fsError.js';
import { fetchGgufHeader } from './remoteHeader.js';
import { selectQuantFiles, withSplitParts } from './selectFiles.js';

export interface PullOptions {
  force?: boolean;
  /** Context length the memory estimate is made for. */
  context: number;
  connections: number;
  signal?: AbortSignal;
  reporter: Reporter;
  config?: StoreConfig;
}

export interface PullResult {
  /** The file to open (the first part of a split model). */
  path: string;
  files: string[];
}

export async function pullModel(input: string, options: PullOptions): Promise<PullResult> {
  try {
    return await pullAny(input, options);
  } catch (err) {
    throw fileSystemError(err);
  }
}

async function pullAny(input: string, options: PullOptions): Promise<PullResult> {
  const config = options.config ?? storeConfig();
  const ref = parseModelRef(input, config.endpoint);
  switch (ref.kind) {
    case 'path':
      if (!existsSync(ref.path)) throw new UserError(`${ref.path}: no such file`, 'ERR_USER_NO_FILE');
      return { path: ref.path, files: [ref.path] };
    case 'url':
      return pullUrl(ref.url, input, config, options);
    default:
      return pullHf(ref, input, config, options);
  }
}

async function pullHf(ref: Extract<ModelRef, { kind: 'hf' | 'hf-file' }>, input: string, config: StoreConfig, options: PullOptions): Promise<PullResult> {
  const { reporter, signal } = options;
  const hub = new HubClient(config, signal, (msg) => reporter.emit({ event: 'notice', message: msg }));
  const listing = await hub.listRepo(ref.repo, ref.revision);
  let files: HubFile[];
  if (ref.kind === 'hf') {
    files = selectQuantFiles(listing.files, ref.quant, ref.entry?.defaultQuant ?? loadRegistry().defaultQuant, ref.repo);
  } else {
    const file = listing.files.find((f) => f.path === ref.file);
    if (!file) throw new UserError(`${ref.repo} has no file ${ref.file}`, 'ERR_USER_NOT_FOUND');
    files = withSplitParts(file, listing.files);
  }
  reporter.emit({ event: 'resolved', model: describeRef(ref), repo: ref.repo, commit: listing.commit, files: files.map((f) => ({ path: f.path, size: f.size })) });

  // resolve/<commit> first; a mirror that answers 404 to it gets the revision name, for this and later files.
  const resolveUrls = (file: string) => hub.resolveUrls(listing, file);
  const fellBack = (url: string, next: string) => {
    listing.resolveAs = listing.revision;
    reporter.emit({ event: 'notice', message: `${redact(url)} was not found; trying ${redact(next)}` });
  };
  const paths = repoPaths(config.hubCache, ref.repo);
  const blobName = (f: HubFile) => f.sha256 ?? f.oid ?? `${listing.commit}-${f.path.replace(/\//g, '_')}`;
  const missing = files.filter((f) => !existsSync(paths.blob(blobName(f))));
  if (missing.length > 0 && !options.force) {
    await checkDisk(config.hubCache, missing.reduce((s, f) => s + Math.max(0, f.size), 0), reporter);
    await checkMemory(resolveUrls(files[0]!.path), fellBack, hub, files, options);
  }

  await mkdir(paths.blobs, { recursive: true });
  const totals = newTotals(files.map((f) => f.size));
  for (const f of files) {
    const blob = paths.blob(blobName(f));
    await fetchBlob(
      { urls: () => resolveUrls(f.path), onFallback: fellBack, size: f.size, sha256: f.sha256, blob, partial: paths.partial(blobName(f)), state: paths.partialState(blobName(f)), lock: paths.lock(blobName(f)), label: f.path },
      { ...hub.requestOptions() },
      config,
      options,
      totals,
      (e) => hubError(e, `${ref.repo}/${f.path}`, !!config.token),
    );
    await linkSnapshot(paths.snapshot(listing.commit, f.path), blobLinkTarget(f.path, blobName(f)));
  }
  // refs/<branch> → commit, so huggingface_hub and llama.cpp find the snapshot offline too.
  if (!/^[0-9a-f]{40}$/.test(ref.revision)) {
    await mkdir(path.dirname(paths.ref(ref.revision)), { recursive: true });
    await writeFile(paths.ref(ref.revision), listing.commit);
  }
  const local = files.map((f) => paths.snapshot(listing.commit, f.path));
  reporter.emit({ event: 'complete', model: input, path: local[0]! });
  return { path: local[0]!, files: local };
}

async function pullUrl(url: string, input: string, config: StoreConfig, options: PullOptions): Promise<PullResult> {
  const dest = urlCachePath(config.urlCache, url);
  if (path.dirname(dest) === config.urlCache) throw new UserError(`${redact(url)} names no file to download`, 'ERR_USER_BAD_REF');
  const label = path.basename(dest);
  // The size is learned from the server when the download starts (the 'start' event); -1 until then.
  options.reporter.emit({ event: 'resolved', model: input, files: [{ path: label, size: -1 }] });
  await mkdir(path.dirname(dest), { recursive: true });
  await fetchBlob(
    { urls: () => [url], size: -1, blob: dest, partial: `${dest}.petrel-partial`, state: `${dest}.petrel-partial.json`, lock: `${dest}.petrel-lock`, label },
    { signal: options.signal },
    config,
    options,
    newTotals([-1]),
    (e) => urlError(e, redact(url)),
  );
  // The cache path cannot say whether it was http or https, or keep a port unambiguously: list reads this.
  await writeFile(urlSourcePath(dest), redact(url) + '\n');
  options.reporter.emit({ event: 'complete', model: input, path: dest });
  return { path: dest, files: [dest] };
}

/** A plain URL's HTTP failure in one line (no hub, so no token or repository advice). */
function urlError(err: unknown, url: string): unknown {
  if (!(err instanceof HttpStatusError)) return err;
  const what = err.status === 404 ? 'not found' : err.status === 401 || err.status === 403 ? 'access denied' : 'the server refused the download';
  return new UserError(`${url}: ${what} (HTTP ${err.status})`, err.status === 404 ? 'ERR_USER_NOT_FOUND' : 'ERR_USER_HTTP');
}

interface BlobJob {
  /** Where the file may be fetched from, in order (later ones only after a 404). */
  urls: () => string[];
  onFallback?: (url: string, next: string) => void;
  size: number;
  sha256?: string;
  blob: string;
  partial: string;
  state: string;
  lock: string;
  label: string;
}

/** Bytes over all files of one pull, for progress events: files finished, and the size of all of them. */
interface Totals {
  size: number;
  done: number;
}

function newTotals(sizes: number[]): Totals {
  return { size: sizes.reduce((s, n) => s + Math.max(0, n), 0), done: 0 };
}

async function fetchBlob(
  job: BlobJob,
  request: { signal?: AbortSignal; token?: { value: string; origin: string } },
  config: StoreConfig,
  options: PullOptions,
  totals: Totals,
  mapError: (e: unknown) => unknown,
): Promise<void> {
  const { reporter } = options;
  const cached = async () => {
    const size = (await stat(job.blob)).size;
    if (job.size < 0) totals.size += size;
    totals.done += size;
    reporter.emit({ event: 'done', file: job.label, size, sha256: job.sha256 ?? '', seconds: 0, cached: true });
  };
  if (existsSync(job.blob)) return cached();
  const lock = await acquireLock(job.lock, {
    signal: options.signal,
    label: job.label,
    onWait: (o) => reporter.emit({ event: 'notice', message: `waiting for another petrel (pid ${o.pid}) that is downloading ${job.label}` }),
  });
  try {
    // The other pull may have finished it while we waited.
    if (existsSync(job.blob)) return await cached();
    const started = Date.now();
    let announced = false;
    let size = job.size;
    let resumed = 0;
    const meter = new RateMeter();
    let lastSample = 0;
    const download = (url: string) =>
      downloadFile(
        { url, size: job.size, ...(job.sha256 ? { sha256: job.sha256 } : {}), dest: job.blob, partial: job.partial, state: job.state },
        {
          request,
          connections: options.connections,
          minSegment: 16 << 20,
          stallMs: config.stallMs,
          retries: config.retries,
          backoffMs: config.backoffMs,
          onProgress: (bytes) => {
            if (!announced) return;
            const now = Date.now();
            // A sample per 100 ms is plenty for a rate, and keeps the meter small at GiB/s (a commit per 512 KiB).
            if (now - lastSample >= 100) {
              meter.add(bytes, now);
              lastSample = now;
            }
            // Until the meter has two samples, the average since the start.
            const rate = meter.perSecond() || ((bytes - resumed) * 1000) / Math.max(1, now - started);
            reporter.emit({ event: 'progress', file: job.label, bytes, size, rate: Math.round(rate), totalBytes: totals.done + bytes, totalSize: totals.size });
          },
          onNotice: (message) => reporter.emit({ event: 'notice', message: `${job.label}: ${message}` }),
          onStart: (learned, resumedBytes, resumable) => {
            // A 404 answered before any byte moved starts the download again from the next URL: say it once.
            if (announced) return;
            announced = true;
            if (size < 0) totals.size += learned;
            size = learned;
            resumed = resumedBytes;
            reporter.emit({ event: 'start', file: job.label, size: learned, resumedBytes, resumable });
          },
        },
      );
    const result = await firstThatAnswers(job.urls(), download, job.onFallback).catch((e: unknown) => {
      throw mapError(networkError(e, job.urls()[0]));
    });
    totals.done += result.size;
    reporter.emit({ event: 'done', file: job.label, size: result.size, sha256: result.sha256, seconds: (Date.now() - started) / 1000, cached: false });
  } finally {
    await lock.release();
  }
}

/** fn on each URL in turn while the previous one answered 404 (a mirror that does not know the commit). */
async function firstThatAnswers<T>(urls: string[], fn: (url: string) => Promise<T>, onFallback?: (url: string, next: string) => void): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn(urls[i]!);
    } catch (err) {
      if (!(err instanceof HttpStatusError && err.status === 404) || i + 1 >= urls.length) throw err;
      onFallback?.(urls[i]!, urls[i + 1]!);
    }
  }
}

/** snapshots/<commit>/<file> → ../../blobs/<sha>, replaced atomically (a temp link renamed over it). */
async function linkSnapshot(link: string, target: string): Promise<void> {
  await mkdir(path.dirname(link), { recursive: true });
  const current = await readlink(link).catch(() => undefined);
  if (current === target) return;
  const tmp = `${link}.petrel-${process.pid}`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
}

async function checkDisk(dir: string, bytes: number, reporter: Reporter): Promise<void> {
  const free = await freeDiskBytes(dir);
  const need = bytes + diskMargin(bytes);
  const ok = free >= need;
  reporter.emit({ event: 'check', what: 'disk', ok, need, have: free });
  if (!ok) {
    throw new UserError(
      `not enough disk space in ${dir}: the download needs ${formatBytes(bytes)} plus ${formatBytes(need - bytes)} margin, ${formatBytes(free)} is free (use --force to try anyway)`,
      'ERR_USER_DISK_SPACE',
    );
  }
}

async function checkMemory(urls: string[], onFallback: (url: string, next: string) => void, hub: HubClient, files: HubFile[], options: PullOptions): Promise<void> {
  const header = await firstThatAnswers(urls, (url) => fetchGgufHeader(url, hub.requestOptions()), onFallback).catch((e: unknown) => {
    throw hubError(networkError(e, urls[0]), redact(urls[0]!), false);
  });
  const fileBytes = files.reduce((s, f) => s + Math.max(0, f.size), 0);
  const est = estimateMemory(header, fileBytes, options.context, files.length === 1);
  const have = machineMemory();
  const ok = est.total <= have;
  const detail =
    `${formatBytes(est.total)} at context ${est.context} (weights ${formatBytes(est.weights)}, KV cache ${formatBytes(est.kvCache)}, ` +
    `recurrent state ${formatBytes(est.recurrentState)}, compute ${formatBytes(est.compute)}); this machine has ${formatBytes(have)} of memory`;
  options.reporter.emit({ event: 'check', what: 'memory', ok, need: est.total, have, detail });
  if (!ok) throw new UserError(`the model will not fit in memory: it needs about ${detail} (use a smaller quant or -c/--ctx, or --force to download anyway)`, 'ERR_USER_MEMORY');
}
