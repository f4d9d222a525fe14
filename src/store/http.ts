// HTTP for the store: GETs go through rawHttp.ts (a plain socket, no parser library to load); behind a proxy
// (the HTTPS_PROXY/HTTP_PROXY/NO_PROXY agent), for chunked or compressed answers, and for other methods,
// undici with keep-alive, imported only then (loading it costs a tenth of a second at startup). Redirects
// are followed by hand so the hub's own headers (X-Linked-Etag, X-Repo-Commit) are kept from the first hop,
// and retries use exponential backoff that honours Retry-After.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { UserError } from '../errors.js';
import { rawGet, RawUnsupportedError, type RawBody } from './rawHttp.js';

let dispatcher: Dispatcher | undefined;

async function getDispatcher(): Promise<Dispatcher> {
  const { Agent, EnvHttpProxyAgent } = await import('undici');
  dispatcher ??= proxyConfigured()
    ? new EnvHttpProxyAgent({ connections: 32, keepAliveTimeout: 30_000 })
    : new Agent({ connections: 32, keepAliveTimeout: 30_000, connect: { timeout: 30_000 } });
  return dispatcher;
}

/** Closes idle keep-alive sockets so the process can exit promptly. */
export async function closeHttp(): Promise<void> {
  const d = dispatcher;
  dispatcher = undefined;
  await d?.close().catch(() => undefined);
}

export type Headers = Record<string, string | string[] | undefined>;

export interface HttpResponse {
  status: number;
  /** Headers of the final response. */
  headers: Headers;
  /** Headers of the first response (the hub's, before a CDN redirect). */
  firstHeaders: Headers;
  url: string;
  body: Readable;
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Sent only to this origin: a token never follows a redirect to a CDN or another host. */
  token?: { value: string; origin: string };
  signal?: AbortSignal;
  /** Time to wait for response headers (a stalled server must not hang a pull forever). */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Skip rawHttp.ts (it refused this server's answer before). */
  viaUndici?: boolean;
}

/** Thrown for a non-2xx answer; retryable ones (408, 429, 5xx) carry Retry-After in ms when sent. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status} from ${redact(url)}`);
  }
  get retryable(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export async function httpRequest(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  if (!options.viaUndici && (options.method ?? 'GET') === 'GET' && !proxyConfigured()) {
    try {
      const raw = await rawGet(url, { ...options, stallMs: options.headersTimeoutMs ?? 60_000 });
      return { status: raw.status, headers: raw.headers, firstHeaders: raw.firstHeaders, url: raw.url, body: readableBody(raw) };
    } catch (err) {
      if (!(err instanceof RawUnsupportedError)) throw err;
    }
  }
  const { request } = await import('undici');
  let current = url;
  let firstHeaders: Headers | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'petrel', ...options.headers };
    if (options.token && new URL(current).origin === options.token.origin) headers.authorization = `Bearer ${options.token.value}`;
    const res = await request(current, {
      method: options.method ?? 'GET',
      headers,
      dispatcher: await getDispatcher(),
      signal: options.signal,
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    });
    firstHeaders ??= res.headers;
    if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      discard(res.body);
      current = new URL(String(res.headers.location), current).toString();
      continue;
    }
    if (res.statusCode >= 400) {
      discard(res.body);
      throw new HttpStatusError(res.statusCode, current, parseRetryAfter(res.headers['retry-after']));
    }
    return { status: res.statusCode, headers: res.headers, firstHeaders, url: current, body: res.body };
  }
  throw new UserError(`too many redirects from ${redact(url)}`, 'ERR_USER_HTTP');
}

export async function httpJson<T>(url: string, options: RequestOptions = {}): Promise<{ data: T; headers: Headers }> {
  const res = await httpRequest(url, { ...options, headers: { accept: 'application/json', ...options.headers } });
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  return { data: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T, headers: res.headers };
}

/** A raw body as a stream, for small answers (API JSON, the GGUF header); downloads read RawBody directly. */
function readableBody(raw: RawBody): Readable {
  const region = Buffer.allocUnsafe(64 << 10);
  const stream = new Readable({
    read: () => raw.resume(),
    destroy: (err, cb) => {
      raw.close();
      cb(err);
    },
  });
  raw.pipe({ region: () => region, landed: (n) => stream.push(Buffer.from(region.subarray(0, n))) }).then(
    () => stream.push(null),
    (err: Error) => stream.destroy(err),
  );
  return stream;
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const when = Date.parse(v);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

export interface RetryPolicy {
  retries: number;
  backoffMs: number;
  signal?: AbortSignal;
  onRetry?: (err: unknown, delayMs: number, attempt: number) => void;
}

/** Network errors and 408/429/5xx are retried; anything else (401, 404, a bad hash) is not. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof HttpStatusError) return err.retryable;
  if (err instanceof UserError) return false;
  const e = err as { name?: string; code?: string };
  if (e?.name === 'AbortError' && !(err as { stall?: boolean }).stall) return false;
  return true;
}

/** The delay before attempt n (1-based): Retry-After when the server sent one (capped), else 2^n backoff with jitter. */
export function retryDelay(err: unknown, attempt: number, backoffMs: number): number {
  if (err instanceof HttpStatusError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, 5 * 60_000);
  const base = Math.min(backoffMs * 2 ** (attempt - 1), 60_000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export async function withRetries<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (policy.signal?.aborted || !isRetryable(err) || attempt > policy.retries) throw err;
      const delay = retryDelay(err, attempt, policy.backoffMs);
      policy.onRetry?.(err, delay, attempt);
      await sleep(delay, undefined, { signal: policy.signal });
    }
  }
}

/** URLs may carry signed query strings (CDN redirects); keep them out of messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url;
  }
}

/** Drops a body we do not want; undici reports destroying an unread body as an error, which nobody needs to hear. */
export function discard(body: { on(event: 'error', fn: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Whether requests go through a proxy (HTTPS_PROXY/HTTP_PROXY): then everything goes through undici. */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
}
