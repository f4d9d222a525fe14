// HTTP for the store, all through undici: one shared keep-alive agent (the HTTPS_PROXY/HTTP_PROXY/NO_PROXY
// agent when a proxy is set), so API calls, redirects and download segments reuse connections. undici is
// imported on first use only, and without its index when no proxy is set (see loadDirectAgent). Small
// answers (API JSON, the GGUF header) come as streams from request(); file bodies go through dispatchGet.ts.
// Redirects are followed by hand so the hub's own headers (X-Linked-Etag, X-Repo-Commit) are kept from the
// first hop, and retries use exponential backoff that honours Retry-After.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { UserError } from '../errors.js';

let dispatcher: Dispatcher | undefined;
let requestFn: ((dispatcher: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>) | undefined;

/** The shared agent: keep-alive, a pool per origin, HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured. */
export async function getDispatcher(): Promise<Dispatcher> {
  if (dispatcher) return dispatcher;
  const options = { connections: 32, keepAliveTimeout: 30_000, connect: { timeout: 30_000 } };
  if (proxyConfigured()) {
    // The proxy agent tunnels with Dispatcher.prototype.connect, which only undici's index installs.
    const undici = await import('undici');
    requestFn = (d, o) => d.request(o);
    dispatcher ??= new undici.EnvHttpProxyAgent(options);
  } else {
    const { Agent, request } = await loadDirectAgent();
    requestFn = (d, o) => request.call(d, o);
    dispatcher ??= new Agent(options);
  }
  return dispatcher;
}

type RequestApi = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/**
 * undici's Agent and request(), without its index: that also loads fetch, WebSocket, the caches and the mocks
 * at startup, long enough for a pull to notice (docs/PERFORMANCE.md#downloads); these two modules load in a
 * fraction of that time.
 * undici has no "exports" map, so its files are reachable; should a release move them, the index is used.
 */
export async function loadDirectAgent(): Promise<{ Agent: typeof import('undici').Agent; request: RequestApi }> {
  const agentPath = 'undici/lib/dispatcher/agent.js';
  const requestPath = 'undici/lib/api/api-request.js';
  try {
    const [agent, request] = (await Promise.all([import(agentPath), import(requestPath)])) as [{ default: typeof import('undici').Agent }, { default: RequestApi }];
    if (typeof agent.default === 'function' && typeof request.default === 'function') return { Agent: agent.default, request: request.default };
  } catch {
    // fall through to the index
  }
  const undici = await import('undici');
  return { Agent: undici.Agent, request: function (this: Dispatcher, o) { return this.request(o); } };
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
  body: Dispatcher.ResponseData['body'];
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
  const d = await getDispatcher();
  let current = url;
  let firstHeaders: Headers | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'petrel', ...options.headers };
    if (options.token && new URL(current).origin === options.token.origin) headers.authorization = `Bearer ${options.token.value}`;
    const u = new URL(current);
    const res = await requestFn!(d, {
      origin: u.origin,
      path: `${u.pathname}${u.search}`,
      method: options.method ?? 'GET',
      headers,
      signal: options.signal,
      headersTimeout: options.headersTimeoutMs ?? 60_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    });
    firstHeaders ??= res.headers;
    if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
      await drain(res.body);
      current = new URL(String(res.headers.location), current).toString();
      continue;
    }
    if (res.statusCode >= 400) {
      await drain(res.body);
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

/** Network errors and 408/429/5xx are retried; anything else (401, 404, a bad hash, no such host, a refused connection) is not. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof HttpStatusError) return err.retryable;
  if (err instanceof UserError) return false;
  const e = err as { name?: string; code?: string };
  if (e?.name === 'AbortError' && !(err as { stall?: boolean }).stall) return false;
  // The name server said the host does not exist, or the host said nothing listens on that port: minutes of
  // retries would not change either (offline, a typo in HF_ENDPOINT, a mirror that is down); a partial download
  // is kept, so pulling again later loses nothing. A lookup that failed for now is EAI_AGAIN, which is retried.
  const code = e?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (code === 'ENOTFOUND' || code === 'ECONNREFUSED') return false;
  return true;
}

/** What the failures of the network itself mean, for the one-line message after the retries are spent. */
const NETWORK_FAILURES: Record<string, string> = {
  ENOTFOUND: 'no such host (check the network connection, or HF_ENDPOINT)',
  EAI_AGAIN: 'the host name could not be looked up (DNS); check the network connection',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
  ETIMEDOUT: 'the connection timed out',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server did not answer in time',
  UND_ERR_BODY_TIMEOUT: 'the transfer stalled',
  UND_ERR_SOCKET: 'the connection was closed',
  ERR_SHORT_BODY: 'the connection closed before the end of the file',
};

/**
 * A failure of the network (DNS, refused or reset connections, timeouts, TLS) as a UserError naming the
 * host: it is the user's to act on, not a bug to print a stack for. Anything else is returned unchanged.
 */
export function networkError(err: unknown, url?: string): unknown {
  if (err instanceof UserError || err instanceof HttpStatusError) return err;
  const e = err as { code?: string; hostname?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  if (!code) return err;
  let host = e.hostname;
  try {
    host ??= url ? new URL(url).host : undefined;
  } catch {
    // not a URL: leave the host out
  }
  const where = host ? `cannot reach ${host}` : 'network error';
  const what = NETWORK_FAILURES[code] ?? (/CERT|SSL|TLS/.test(code) ? `TLS failed: ${e.message ?? code}` : undefined);
  return what ? new UserError(`${where}: ${what} (${code})`, 'ERR_USER_NETWORK', { cause: err }) : err;
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

/** Reads and drops a small body (a redirect, an error page) so its connection stays open for the next request. */
export async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  await body.dump({ limit: 64 << 10 }).catch(() => undefined);
}

/** Whether requests go through a proxy (HTTPS_PROXY/HTTP_PROXY): then the agent is undici's EnvHttpProxyAgent. */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!(env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy);
}
