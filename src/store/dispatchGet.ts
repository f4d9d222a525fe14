// The download's GET: undici's Dispatcher.dispatch() with a handler that copies each body chunk into the
// caller's buffers (a BodySink) as it comes off the parser: no Readable, no promise and no allocation per
// chunk, which is what made undici's stream body cost ~30 µs of JavaScript per 64 KiB. Redirects are followed
// here (the token stays with its origin) over the shared keep-alive agent, so the hub's redirect and the CDN
// answer reuse connections; error statuses become HttpStatusError with Retry-After, after their (small) body
// is read so the connection stays open.
import type { Dispatcher } from 'undici';
import { UserError } from '../errors.js';
import { getDispatcher, HttpStatusError, parseRetryAfter, redact, type Headers, type RequestOptions } from './http.js';

/** Where the body goes: the reader asks for a buffer before each copy and reports what landed in it. */
export interface BodySink {
  /** The buffer the next bytes go to (any length > 0). Called again after every landed(). */
  region(): Buffer;
  /** n bytes landed at the start of the last region. Return false to pause until onResume is called. */
  landed(n: number): boolean;
  /** Set by the reader: continue after landed() returned false. */
  onResume?: () => void;
  /** Set by the reader: nothing more is wanted (the range is complete, a thief took the rest, or a write failed). */
  onStop?: () => void;
}

export interface DispatchGetOptions extends RequestOptions {
  /** No bytes for this long (headers or body) is a stall. */
  stallMs: number;
  /** Sees the final answer's status and headers before any body byte is taken; throwing refuses the body. */
  accept?: (status: number, headers: Headers) => void;
}

/** Error bodies and redirect bodies beyond this are not worth reading to keep the connection. */
const MAX_SKIP = 64 << 10;

/** GETs url (following redirects) and streams the final body into sink; resolves at the body's end or once the sink stopped it. */
export async function dispatchGet(url: string, options: DispatchGetOptions, sink: BodySink): Promise<void> {
  const dispatcher = await getDispatcher();
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    const next = await oneHop(dispatcher, current, options, sink);
    if (next === undefined) return;
    current = next;
  }
  throw new UserError(`too many redirects from ${redact(url)}`, 'ERR_USER_HTTP');
}

/** One request; resolves with the redirect target, or undefined once the body went to the sink. */
function oneHop(dispatcher: Dispatcher, url: string, options: DispatchGetOptions, sink: BodySink): Promise<string | undefined> {
  const u = new URL(url);
  const headers: Record<string, string> = { 'user-agent': 'petrel', ...options.headers };
  if (options.token && u.origin === options.token.origin) headers.authorization = `Bearer ${options.token.value}`;
  const signal = options.signal;

  return new Promise<string | undefined>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    // 'skip': a redirect or an error answer whose small body is read and dropped; 'body': into the sink.
    let mode: 'head' | 'skip' | 'body' = 'head';
    let outcome: { redirect?: string; error?: unknown } = {};
    let length = -1; // Content-Length of the final body; -1 when chunked
    let received = 0;
    let stopped = false;
    let ended = false;

    const finish = (err: unknown, value?: string) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      sink.onResume = sink.onStop = undefined;
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const onAbort = () => {
      const reason = signal?.reason ?? new Error('aborted');
      controller?.abort(reason);
      finish(reason);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (settled) c.abort(signal?.reason ?? new Error('aborted'));
      },
      onResponseStart(c, status, resHeaders) {
        const h = resHeaders as Headers;
        if (status >= 300 && status < 400 && h.location) {
          outcome = { redirect: new URL(String(h.location), url).toString() };
          mode = 'skip';
          return;
        }
        if (status >= 400) {
          outcome = { error: new HttpStatusError(status, url, parseRetryAfter(h['retry-after'])) };
          mode = 'skip';
          return;
        }
        try {
          options.accept?.(status, h);
        } catch (err) {
          c.abort(err as Error);
          finish(err);
          return;
        }
        mode = 'body';
        length = h['content-length'] === undefined ? -1 : Number(h['content-length']);
        sink.onResume = () =>
          queueMicrotask(() => {
            if (!ended && !settled && c.paused) c.resume();
          });
        sink.onStop = () => {
          stopped = true;
          // At the body's natural end the connection is kept; otherwise the rest is not wanted.
          if (!ended && (length < 0 || received < length)) {
            c.abort(new Error('body no longer wanted'));
            finish(undefined);
          }
        };
      },
      onResponseData(c, chunk) {
        if (mode !== 'body') {
          received += chunk.length;
          if (received > MAX_SKIP) {
            c.abort(new Error('body too large to skip'));
            finish(outcome.error, outcome.redirect);
          }
          return;
        }
        received += chunk.length;
        if (stopped) return;
        let more = true;
        for (let off = 0; off < chunk.length; ) {
          const dst = sink.region();
          const take = Math.min(dst.length, chunk.length - off);
          chunk.copy(dst, 0, off, off + take);
          off += take;
          more = sink.landed(take);
        }
        if (!more && !stopped) c.pause();
      },
      onResponseEnd() {
        ended = true;
        if (mode === 'body') finish(undefined);
        else finish(outcome.error, outcome.redirect);
      },
      onResponseError(_c, err) {
        ended = true;
        // A stop the sink asked for is not a failure; neither is a skipped body cut short.
        if (stopped || (mode === 'skip' && received > MAX_SKIP)) finish(mode === 'skip' ? outcome.error : undefined, outcome.redirect);
        else finish(err);
      },
    };

    dispatcher.dispatch(
      { origin: u.origin, path: `${u.pathname}${u.search}`, method: 'GET', headers, headersTimeout: options.stallMs, bodyTimeout: options.stallMs },
      handler,
    );
  });
}
