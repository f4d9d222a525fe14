// The download's fast path: one HTTP/1.1 GET per connection over a plain net/tls socket whose reads land
// straight in the caller's buffers (`onread`), so a body is received without per-chunk allocations, stream
// machinery or the copy undici makes for its parser; receiving 1 GiB costs a tenth of the CPU it costs through
// undici. Only what a file download needs: redirects (the token stays with its origin), error statuses with
// Retry-After, Content-Length bodies (read in place) and chunked ones (decoded, for small API answers).
// Anything else (compressed bodies, other protocols) is refused with ERR_RAW_UNSUPPORTED, and the caller goes
// back to undici, which also handles proxies.
import net from 'node:net';
import tls from 'node:tls';
import { HttpStatusError, parseRetryAfter, redact, type Headers, type RequestOptions } from './http.js';
import { UserError } from '../errors.js';

const MAX_HEADER = 64 << 10;

/** Where the body goes: the reader asks for a buffer before each socket read and reports what landed in it. */
export interface BodySink {
  /** The buffer the next read fills (any length > 0). Called again after every read. */
  region(): Buffer;
  /** n bytes landed at the start of the last region. Return false to pause until RawBody.resume(). */
  landed(n: number): boolean;
}

export interface RawBody {
  status: number;
  headers: Headers;
  /** Headers of the first response (the hub's, before a CDN redirect). */
  firstHeaders: Headers;
  url: string;
  /** Content-Length of the body; -1 when chunked. */
  length: number;
  /** Streams the body into sink; resolves at its end or when the peer closes early, rejects on errors and stalls. */
  pipe(sink: BodySink): Promise<void>;
  resume(): void;
  /** Closes the connection (the rest of the body is not wanted). */
  close(): void;
}

export interface RawGetOptions extends RequestOptions {
  /** No bytes for this long (connecting, headers or body) is a stall. */
  stallMs: number;
}

/** Thrown for a response this reader does not handle; the caller retries the request through undici. */
export class RawUnsupportedError extends Error {
  readonly code = 'ERR_RAW_UNSUPPORTED';
}

export async function rawGet(url: string, options: RawGetOptions): Promise<RawBody> {
  let current = url;
  let firstHeaders: Headers | undefined;
  for (let hop = 0; hop < 10; hop++) {
    const head = await openResponse(current, options);
    firstHeaders ??= head.headers;
    const { status, headers } = head;
    if (status >= 300 && status < 400 && headers.location) {
      head.close();
      current = new URL(String(headers.location), current).toString();
      continue;
    }
    if (status >= 400) {
      head.close();
      throw new HttpStatusError(status, current, parseRetryAfter(headers['retry-after']));
    }
    const chunked = isChunked(headers);
    const length = chunked ? -1 : Number(headers['content-length']);
    const te = headers['transfer-encoding'];
    const encoded = (te && !chunked) || (headers['content-encoding'] && headers['content-encoding'] !== 'identity');
    if (encoded || (!chunked && (!Number.isSafeInteger(length) || length < 0))) {
      head.close();
      throw new RawUnsupportedError(`${redact(current)}: response body is not a plain Content-Length body`);
    }
    return { ...head, firstHeaders, url: current, length };
  }
  throw new UserError(`too many redirects from ${redact(url)}`, 'ERR_USER_HTTP');
}

type OpenResponse = Omit<RawBody, 'firstHeaders' | 'url' | 'length'>;

/** Connects, sends the GET and reads up to the end of the response headers (reading pauses there). */
function openResponse(url: string, options: RawGetOptions): Promise<OpenResponse> {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  if (!https && u.protocol !== 'http:') throw new RawUnsupportedError(`unsupported protocol ${u.protocol}`);
  const headers: Record<string, string> = { 'user-agent': 'petrel', ...options.headers, 'accept-encoding': 'identity', connection: 'close' };
  if (options.token && u.origin === options.token.origin) headers.authorization = `Bearer ${options.token.value}`;
  let request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n`;
  for (const [k, v] of Object.entries(headers)) request += `${k}: ${v}\r\n`;
  request += '\r\n';

  // Phase 1 reads into `head` until the header block is complete; phase 2 (pipe) into the sink's buffers.
  let head: Buffer | undefined = Buffer.allocUnsafe(MAX_HEADER);
  let headLen = 0;
  let leftover: Buffer | undefined; // body bytes that came with the headers
  let sink: BodySink | undefined;
  let fromSink = false; // the pending read lands in a region the sink gave (else in `spare`)
  let dechunk: Dechunker | undefined; // chunked bodies are read into `spare` and decoded into the sink
  let bodyLeft = Infinity;
  let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  let opened: { resolve: (r: OpenResponse) => void; reject: (e: unknown) => void } | undefined;
  let failure: unknown;
  let ended = false;

  const port = Number(u.port) || (https ? 443 : 80);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const onread = {
    buffer: () => {
      if (head) return head.subarray(headLen);
      fromSink = !!sink && !dechunk;
      return fromSink ? sink!.region() : spare();
    },
    callback: (n: number, buf: Uint8Array) => {
      if (head) return onHeadBytes(n);
      if (!sink) return false;
      if (dechunk) return feedChunked(buf, n);
      const take = Math.min(n, bodyLeft);
      bodyLeft -= take;
      let more = true;
      if (fromSink) more = take > 0 ? sink.landed(take) : true;
      else more = copyInto(sink, buf, take);
      if (bodyLeft <= 0) finish();
      return more;
    },
  };
  const socket: net.Socket = https
    ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], onread } as tls.ConnectionOptions)
    : net.connect({ host, port, onread });
  const onAbort = () => fail(options.signal?.reason ?? new Error('aborted'));

  function fail(err: unknown): void {
    failure ??= err;
    cleanup();
    opened?.reject(failure);
    settle?.reject(failure);
    settle = undefined;
  }
  function finish(): void {
    ended = true;
    cleanup();
    settle?.resolve();
    settle = undefined;
  }
  function cleanup(): void {
    socket.destroy();
    options.signal?.removeEventListener('abort', onAbort);
  }
  function feedChunked(buf: Uint8Array, n: number): boolean {
    let more = true;
    try {
      if (dechunk!.feed(buf.subarray(0, n), (piece) => (more = copyInto(sink!, piece, piece.length)))) finish();
    } catch (err) {
      fail(new Error(`${redact(url)}: ${(err as Error).message}`));
      return false;
    }
    return more;
  }
  function onHeadBytes(n: number): boolean {
    headLen += n;
    const text = head!.toString('latin1', 0, headLen);
    let start = 0;
    for (;;) {
      const end = text.indexOf('\r\n\r\n', start);
      if (end < 0) {
        if (headLen >= MAX_HEADER) fail(new Error(`${redact(url)}: response headers larger than ${MAX_HEADER} bytes`));
        return true;
      }
      const parsed = parseHead(text.slice(start, end));
      if (!parsed) {
        fail(new Error(`${redact(url)}: malformed HTTP response`));
        return false;
      }
      start = end + 4;
      if (parsed.status < 200) continue; // 100 Continue, 103 Early Hints: the real answer follows
      leftover = Buffer.from(head!.subarray(start, headLen));
      head = undefined;
      opened?.resolve({
        status: parsed.status,
        headers: parsed.headers,
        pipe: (s) =>
          new Promise<void>((resolve, reject) => {
            if (failure) return reject(failure);
            sink = s;
            settle = { resolve, reject };
            // Bytes that arrived with the headers go first.
            let more: boolean;
            if (isChunked(parsed.headers)) {
              dechunk = new Dechunker();
              more = feedChunked(leftover!, leftover!.length);
            } else {
              bodyLeft = Number(parsed.headers['content-length']);
              const take = Math.min(leftover!.length, bodyLeft);
              bodyLeft -= take;
              more = copyInto(s, leftover!, take);
            }
            leftover = undefined;
            if (bodyLeft <= 0 || ended) finish();
            else if (more) socket.resume();
          }),
        resume: () => socket.resume(),
        close: finish,
      });
      return false; // pause until pipe()
    }
  }

  return new Promise<OpenResponse>((resolve, reject) => {
    opened = { resolve, reject };
    socket.setNoDelay(true);
    socket.setTimeout(options.stallMs, () => fail(Object.assign(new Error(`no data for ${options.stallMs} ms`), { code: 'ERR_STALL' })));
    socket.once(https ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('error', fail);
    socket.on('close', () => (head ? fail(new Error('connection closed before the response headers')) : finish()));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
  });
}

/** Copies n bytes of src into the sink's regions; false when the sink asked to pause. */
function copyInto(sink: BodySink, src: Uint8Array, n: number): boolean {
  let more = true;
  for (let off = 0; off < n; ) {
    const dst = sink.region();
    const take = Math.min(dst.length, n - off);
    dst.set(src.subarray(off, off + take));
    off += take;
    more = sink.landed(take);
  }
  return more;
}

function isChunked(headers: Headers): boolean {
  return String(headers['transfer-encoding'] ?? '').trim().toLowerCase() === 'chunked';
}

/** Transfer-Encoding: chunked, decoded as bytes arrive (a size line, the data, CRLF; a 0 size ends it). */
class Dechunker {
  private state: 'size' | 'data' | 'crlf' = 'size';
  private line = '';
  private left = 0;

  /** Emits the data bytes in buf; true once the last chunk has begun (trailers are not read). */
  feed(buf: Uint8Array, emit: (data: Uint8Array) => void): boolean {
    for (let i = 0; i < buf.length; ) {
      if (this.state === 'size') {
        const nl = buf.indexOf(10, i);
        this.line += Buffer.from(buf.subarray(i, nl < 0 ? buf.length : nl)).toString('latin1');
        if (nl < 0) return false;
        i = nl + 1;
        const size = parseInt(this.line.split(';')[0]!.trim(), 16);
        this.line = '';
        if (!Number.isFinite(size)) throw new Error('malformed chunked body');
        if (size === 0) return true;
        this.left = size;
        this.state = 'data';
      } else if (this.state === 'data') {
        const take = Math.min(this.left, buf.length - i);
        emit(buf.subarray(i, i + take));
        i += take;
        this.left -= take;
        if (this.left === 0) this.state = 'crlf';
      } else {
        const nl = buf.indexOf(10, i);
        if (nl < 0) return false;
        i = nl + 1;
        this.state = 'size';
      }
    }
    return false;
  }
}

function parseHead(block: string): { status: number; headers: Headers } | undefined {
  const lines = block.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers: Headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const prev = headers[key];
    headers[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return { status: Number(m[1]), headers };
}

let spareBuffer: Buffer | undefined;
/**
 * The read buffer of chunked bodies (decoded out of it at once) and of the moment between the headers and
 * pipe(), when the socket is paused. Shared: every read is consumed in its callback, before any other read.
 */
function spare(): Buffer {
  return (spareBuffer ??= Buffer.allocUnsafe(64 << 10));
}
