// A local stand-in for the Hugging Face hub on 127.0.0.1 (random port): model info, the recursive tree with
// LFS hashes, `resolve` answering with a 302 to a CDN path on the same server, Range requests, gated repos,
// plain file URLs — and faults to inject (cuts, stalls, 429/503 with Retry-After, corrupted bytes, slow
// transfers, lying sizes). Every request is logged so tests can check what the client really did.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  path: string;
  /** In-memory content, or a file on disk (its sha256 given so a 1 GiB fixture is hashed once). */
  data: Buffer | { file: string; sha256: string };
}

export interface ServedRepo {
  id: string;
  commit: string;
  files: ServedFile[];
  /** Gated: the API and resolve answer 401 without this bearer token. */
  token?: string;
}

export interface Faults {
  /** Close the connection once this file offset is reached (the next `times` transfers that cross it). */
  cut?: { path: string; offset: number; times: number };
  /** Stop sending at this offset and keep the connection open (a stalled segment). */
  stall?: { path: string; offset: number; times: number };
  /** Answer the next `times` file requests with this status and Retry-After (seconds). */
  status?: { status: number; retryAfter?: string; times: number };
  /** Serve this byte flipped (the hash must catch it). */
  corrupt?: { path: string; offset: number };
  /** Send at most this many bytes per second per connection. */
  throttle?: { path: string; bytesPerSecond: number };
  /** Send this file with Transfer-Encoding: chunked (no Content-Length). */
  chunked?: { path: string };
  /** Report this size in the tree listing (a file that will not fit on disk). */
  reportSize?: { path: string; size: number };
}

export interface LogEntry {
  method: string;
  url: string;
  range?: string;
  auth?: string;
  status: number;
}

interface FileEntry {
  repo: ServedRepo;
  path: string;
  size: number;
  sha256: string;
  read: (start: number, end: number) => Promise<Buffer>;
  stream?: (start: number, end: number) => NodeJS.ReadableStream;
}

export class HfServer {
  faults: Faults = {};
  readonly log: LogEntry[] = [];
  private readonly server: Server;
  private readonly byPath = new Map<string, FileEntry>(); // "<repo>/<path>"
  private readonly bySha = new Map<string, FileEntry>();
  private readonly plain = new Map<string, FileEntry>(); // "/files/<name>"
  private readonly repos = new Map<string, ServedRepo>();
  private readonly sockets = new Set<import('node:net').Socket>();
  url = '';

  constructor(repos: ServedRepo[] = []) {
    for (const r of repos) this.addRepo(r);
    this.server = createServer((req, res) => void this.handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    }));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  addRepo(repo: ServedRepo): void {
    this.repos.set(repo.id, repo);
    for (const f of repo.files) {
      const entry = toEntry(repo, f);
      this.byPath.set(`${repo.id}/${f.path}`, entry);
      this.bySha.set(entry.sha256, entry);
    }
  }

  /** A file at /files/<name> with no hub behind it (for plain https:// references). */
  addPlainFile(name: string, data: Buffer): string {
    const entry = toEntry({ id: '', commit: '', files: [] }, { path: name, data });
    this.plain.set(`/files/${name}`, entry);
    return `${this.url}/files/${name}`;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  fileRequests(path?: string): LogEntry[] {
    return this.log.filter((l) => (l.url.startsWith('/cdn/') || l.url.startsWith('/files/')) && (!path || l.url.includes(path)));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: LogEntry = { method: req.method ?? 'GET', url: req.url ?? '', status: 0 };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers.authorization) entry.auth = req.headers.authorization;
    this.log.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers }).end(text);
    };
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);

    if (parts[0] === 'api' && parts[1] === 'models' && parts.length >= 4) {
      const repo = this.repos.get(`${parts[2]}/${parts[3]}`);
      if (!repo) return send(404, { error: 'Repository not found' });
      if (!this.authorized(repo, req)) return send(401, { error: 'Access to model is restricted' });
      if (parts[4] === 'tree') {
        const rev = parts[5];
        if (rev !== repo.commit && rev !== 'main') return send(404, { error: 'Revision not found' });
        const dirs = new Set<string>();
        for (const f of repo.files) f.path.split('/').slice(0, -1).forEach((_, i, a) => dirs.add(a.slice(0, i + 1).join('/')));
        const tree = [
          ...[...dirs].map((d) => ({ type: 'directory', path: d, oid: 'd'.repeat(40), size: 0 })),
          ...repo.files.map((f) => {
            const e = this.byPath.get(`${repo.id}/${f.path}`)!;
            const size = this.faults.reportSize?.path === f.path ? this.faults.reportSize.size : e.size;
            return { type: 'file', path: f.path, size, oid: createHash('sha1').update(e.sha256).digest('hex'), lfs: { oid: e.sha256, size, pointerSize: 134 } };
          }),
        ];
        return send(200, tree);
      }
      if (parts.length === 4 || (parts[4] === 'revision' && (parts[5] === 'main' || parts[5] === repo.commit))) {
        return send(200, { id: repo.id, sha: repo.commit, gated: repo.token ? 'auto' : false, siblings: repo.files.map((f) => ({ rfilename: f.path })) });
      }
      return send(404, { error: 'not found' });
    }

    if (parts[2] === 'resolve' && parts.length >= 5) {
      const repo = this.repos.get(`${parts[0]}/${parts[1]}`);
      if (!repo) return send(404, 'Repository not found');
      if (!this.authorized(repo, req)) return send(401, 'Access to model is restricted');
      const rev = parts[3];
      if (rev !== repo.commit && rev !== 'main') return send(404, 'Revision not found');
      const file = this.byPath.get(`${repo.id}/${parts.slice(4).join('/')}`);
      if (!file) return send(404, 'Entry not found');
      // As the hub does for LFS files: a redirect to a signed CDN URL, the sha256 in X-Linked-Etag.
      entry.status = 302;
      res.writeHead(302, {
        location: `/cdn/${file.sha256}?sig=${repo.commit.slice(0, 8)}`,
        'x-linked-etag': `"${file.sha256}"`,
        'x-linked-size': String(file.size),
        'x-repo-commit': repo.commit,
        etag: `"${file.sha256}"`,
      });
      return void res.end();
    }

    const cdn = parts[0] === 'cdn' ? this.bySha.get(parts[1] ?? '') : this.plain.get(url.pathname);
    if (cdn) {
      if (parts[0] === 'cdn' && !url.searchParams.get('sig')) return send(403, 'unsigned');
      return this.serveFile(cdn, req, res, entry);
    }
    return send(404, 'not found');
  }

  private authorized(repo: ServedRepo, req: IncomingMessage): boolean {
    return !repo.token || req.headers.authorization === `Bearer ${repo.token}`;
  }

  private async serveFile(file: FileEntry, req: IncomingMessage, res: ServerResponse, entry: LogEntry): Promise<void> {
    const f = this.faults;
    if (f.status && f.status.times > 0) {
      f.status.times--;
      entry.status = f.status.status;
      res.writeHead(f.status.status, f.status.retryAfter ? { 'retry-after': f.status.retryAfter } : {}).end('slow down');
      return;
    }
    let start = 0;
    let end = file.size - 1;
    let status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), file.size - 1) : file.size - 1;
      if (start > end || start >= file.size) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${file.size}` }).end();
        return;
      }
      status = 206;
    }
    entry.status = status;
    const chunked = f.chunked?.path === file.path;
    res.writeHead(status, {
      ...(chunked ? {} : { 'content-length': String(end - start + 1) }),
      'accept-ranges': 'bytes',
      etag: `"${file.sha256}"`,
      'content-type': 'application/octet-stream',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();

    const cut = f.cut && f.cut.path === file.path && f.cut.times > 0 && f.cut.offset >= start && f.cut.offset <= end ? f.cut : undefined;
    const stall = f.stall && f.stall.path === file.path && f.stall.times > 0 && f.stall.offset >= start && f.stall.offset <= end ? f.stall : undefined;
    const corrupt = f.corrupt && f.corrupt.path === file.path ? f.corrupt : undefined;
    const throttle = f.throttle && f.throttle.path === file.path ? f.throttle : undefined;
    if (cut) cut.times--;
    if (stall) stall.times--;
    if (!cut && !stall && !corrupt && !throttle && file.stream) {
      file.stream(start, end).pipe(res); // fast path for the throughput benchmark
      return;
    }
    const chunk = throttle ? Math.max(1024, Math.floor(throttle.bytesPerSecond / 20)) : 256 << 10;
    let closed = false;
    res.on('close', () => (closed = true));
    for (let pos = start; pos <= end && !closed; ) {
      let stop = Math.min(end + 1, pos + chunk);
      if (cut && cut.offset < stop) stop = cut.offset;
      if (stall && stall.offset < stop) stop = stall.offset;
      if (stop > pos) {
        let data = await file.read(pos, stop);
        if (corrupt && corrupt.offset >= pos && corrupt.offset < stop) {
          data = Buffer.from(data);
          data[corrupt.offset - pos]! ^= 0xff;
        }
        if (!res.write(data)) await new Promise((r) => res.once('drain', r));
        pos = stop;
      }
      if (cut && pos === cut.offset) {
        res.destroy();
        return;
      }
      if (stall && pos === stall.offset) return; // keep the socket open, send nothing more
      if (throttle) await new Promise((r) => setTimeout(r, 50));
    }
    res.end();
  }
}

function toEntry(repo: ServedRepo, f: ServedFile): FileEntry {
  if (Buffer.isBuffer(f.data)) {
    const data = f.data;
    return {
      repo,
      path: f.path,
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      read: async (s, e) => data.subarray(s, e),
    };
  }
  const { file, sha256 } = f.data;
  return {
    repo,
    path: f.path,
    size: statSync(file).size,
    sha256,
    read: async (s, e) => {
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(e - s);
        await fh.read(buf, 0, e - s, s);
        return buf;
      } finally {
        await fh.close();
      }
    },
    stream: (s, e) => createReadStream(file, { start: s, end: e, highWaterMark: 1 << 20 }),
  };
}

export async function startHfServer(repos: ServedRepo[] = []): Promise<HfServer> {
  const server = new HfServer(repos);
  await server.start();
  return server;
}
