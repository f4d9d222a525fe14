// A hub mirror stand-in on 127.0.0.1: forwards every request to an upstream HfServer unless a rule answers
// it first (a 404 for what the mirror does not know, a 503 to make the client retry). Redirects pass through
// unchanged; their relative locations come back to this mirror, which forwards them too.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface MirrorAnswer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export type MirrorRule = (path: string) => MirrorAnswer | undefined;

export class HubMirror {
  rules: MirrorRule[] = [];
  readonly log: Array<{ url: string; status: number }> = [];
  url = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly upstream: string) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const entry = { url, status: 0 };
    this.log.push(entry);
    for (const rule of this.rules) {
      const answer = rule(url);
      if (!answer) continue;
      entry.status = answer.status;
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers }).end(answer.body ?? '');
      return;
    }
    const up = new URL(this.upstream);
    const fwd = request(
      { host: up.hostname, port: up.port, method: req.method, path: url, headers: { ...req.headers, host: up.host } },
      (upRes) => {
        entry.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    res.on('close', () => fwd.destroy());
    req.pipe(fwd);
  }
}

export async function startMirror(upstream: string): Promise<HubMirror> {
  const m = new HubMirror(upstream);
  await m.start();
  return m;
}

/** Answers 404 to tree/<40 hex> and resolve/<40 hex>/…: a mirror that only knows branch names. */
export const onlyBranchNames: MirrorRule = (p) =>
  /\/tree\/[0-9a-f]{40}(\?|$)|\/resolve\/[0-9a-f]{40}\//.test(p) ? { status: 404, body: 'Revision not found' } : undefined;
