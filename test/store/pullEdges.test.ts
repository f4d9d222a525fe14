// What a new user hits first with pull / list / rm: a hash mismatch, rm during a pull, a refused
// endpoint, a mirror that only knows branch names, and what --json, list and --help say. The real CLI runs
// against the hub stand-in (and a mirror in front of it) on 127.0.0.1, with the HF cache in a temp dir.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';
import { HfServer, startHfServer } from '../support/hfServer.js';
import { makeGguf, petrel, pseudoRandom, sha256, startPetrel } from './fixtures.js';
import { HubMirror, onlyBranchNames, startMirror } from './mirror.js';

const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);
let server: HfServer;
let mirror: HubMirror;
let tmp: string;
const small = makeGguf({ seed: 31, padTo: 400_000 });
const slow = makeGguf({ seed: 32, padTo: 6 << 20 });
const parts = [1, 2, 3].map((i) => makeGguf({ seed: 40 + i, padTo: 1_500_000 + i }));

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'petrel-pull-edges-'));
  server = await startHfServer([
    { id: 'owner/Small-GGUF', commit: C1, files: [{ path: 'Small-Q4_K_M.gguf', data: small }] },
    { id: 'owner/Slow-GGUF', commit: C1, files: [{ path: 'Slow-Q4_K_M.gguf', data: slow }] },
    { id: 'owner/Junk-GGUF', commit: C1, files: [{ path: 'Junk-Q4_K_M.gguf', data: pseudoRandom(300_000, 35) }] },
    { id: 'owner/Split-GGUF', commit: C2, files: parts.map((data, i) => ({ path: `Split-Q8_0-0000${i + 1}-of-00003.gguf`, data })) },
    { id: 'owner/Escape-GGUF', commit: C1, files: [{ path: 'x/../../../../escaped-Q4_K_M.gguf', data: pseudoRandom(1000, 36) }] },
  ]);
  mirror = await startMirror(server.url);
});
afterAll(async () => {
  await mirror.close();
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  server.faults = {};
  server.log.length = 0;
  mirror.rules = [];
  mirror.log.length = 0;
});

let n = 0;
function freshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv & { HF_HOME: string } {
  const home = path.join(tmp, `home${n++}`);
  return { HF_ENDPOINT: server.url, HF_HOME: home, HF_HUB_CACHE: '', XDG_CACHE_HOME: path.join(home, 'xdg'), PETREL_BACKOFF_MS: '50', PETREL_STALL_MS: '3000', ...extra };
}
const blobsOf = (env: { HF_HOME: string }, repo: string) => path.join(env.HF_HOME, 'hub', `models--${repo.replace('/', '--')}`, 'blobs');
const noStack = (text: string) => expect(text).not.toMatch(/internal error|\n\s+at |Error: /);
type Listed = { models: Array<{ name: string; path: string; size: number }>; partial: Array<{ file: string; bytes: number }> };
const list = (env: NodeJS.ProcessEnv) => JSON.parse(runPetrel(['list', '--json'], { env }).stdout) as Listed;

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a SHA-256 mismatch', () => {
  it('deletes the damaged download and its state; list shows no partial; the next pull starts clean and succeeds', async () => {
    const env = freshEnv();
    server.faults.corrupt = { path: 'Small-Q4_K_M.gguf', offset: 1000 };
    const bad = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/SHA-256 mismatch .*the damaged download was deleted/);
    noStack(bad.stderr);
    expect(readdirSync(blobsOf(env, 'owner/Small-GGUF'))).toEqual([]);
    expect(list(env).partial).toEqual([]);

    server.faults = {};
    const good = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(good.status, good.stderr).toBe(0);
    noStack(good.stderr);
    expect(good.stderr).not.toMatch(/resuming/);
    expect(readFileSync(path.join(blobsOf(env, 'owner/Small-GGUF'), sha256(small))).equals(small)).toBe(true);
  });

  it('a state file left without its data is no partial and does not stop a pull', async () => {
    const env = freshEnv();
    const blobs = blobsOf(env, 'owner/Small-GGUF');
    mkdirSync(blobs, { recursive: true });
    const state = { version: 1, url: `${server.url}/owner/Small-GGUF/resolve/${C1}/Small-Q4_K_M.gguf`, size: small.length, sha256: sha256(small), segments: [{ start: 0, pos: small.length, end: small.length }] };
    writeFileSync(path.join(blobs, `${sha256(small)}.petrel-partial.json`), JSON.stringify(state));
    expect(list(env).partial).toEqual([]);
    const r = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(r.status, r.stderr).toBe(0);
    noStack(r.stderr);
    expect(readFileSync(path.join(blobs, sha256(small))).equals(small)).toBe(true);
    expect(readdirSync(blobs)).toEqual([sha256(small)]);
  });
});

describe('rm during a pull', () => {
  it('is refused with a message naming the pull; the pull and the one waiting on its lock both finish', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 2 << 20 };
    const blobs = blobsOf(env, 'owner/Slow-GGUF');
    const a = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    await waitFor(() => existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial.json`)), 10_000);
    const b = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    await waitFor(() => /waiting for another petrel/.test(b.stderr()), 10_000);

    const rm = await petrel(['rm', 'hf:owner/Slow-GGUF'], env);
    expect(rm.status).toBe(1);
    expect(rm.stderr.trim()).toMatch(new RegExp(`^petrel: hf:owner/Slow-GGUF is being downloaded by petrel pull \\(pid ${a.child.pid}\\): Slow-Q4_K_M.gguf; stop that pull first .*or wait for it to finish$`));
    expect(existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial`))).toBe(true);
    expect(existsSync(path.join(blobs, `${sha256(slow)}.petrel-lock`))).toBe(true);

    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.status, ra.stderr).toBe(0);
    expect(rb.status, rb.stderr).toBe(0);
    expect(readFileSync(path.join(blobs, sha256(slow))).equals(slow)).toBe(true);
    // Once the pull is over, rm works.
    const after = await petrel(['rm', 'hf:owner/Slow-GGUF'], env);
    expect(after.status, after.stderr).toBe(0);
  });

  it('a cache folder deleted under a running pull ends both pulls with one line each, never a stack or a damaged blob', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 3 << 20 };
    const blobs = blobsOf(env, 'owner/Slow-GGUF');
    const a = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    await waitFor(() => existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial.json`)), 10_000);
    const b = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    await waitFor(() => /waiting for another petrel/.test(b.stderr()), 10_000);
    rmSync(path.dirname(blobs), { recursive: true, force: true }); // what `rm -rf` of the cache does

    const [ra, rb] = await Promise.all([a.done, b.done]);
    for (const r of [ra, rb]) {
      noStack(r.stderr);
      if (r.status !== 0) expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^petrel: .*(removed while it was being downloaded|no such file)/);
    }
    expect(ra.status).toBe(1);
    expect(ra.stderr).toMatch(/removed while it was being downloaded/);
    // The waiting pull took over once the lock was gone and fetched the whole file itself.
    expect(rb.status, rb.stderr).toBe(0);
    expect(readFileSync(path.join(blobs, sha256(slow))).equals(slow)).toBe(true);
  });
});

describe('a cache that cannot be written', () => {
  it('HF_HUB_CACHE under a plain file is one line naming the path', async () => {
    const env = freshEnv();
    mkdirSync(env.HF_HOME, { recursive: true });
    const file = path.join(env.HF_HOME, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await petrel(['pull', 'hf:owner/Small-GGUF', '--force'], { ...env, HF_HUB_CACHE: path.join(file, 'hub') });
    expect(r.status).toBe(1);
    noStack(r.stderr);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^petrel: cannot mkdir ${file}/hub/.*: a part of the path is a file, not a folder \\(ENOTDIR\\)$`));
  });
});

describe('an endpoint that refuses or never answers', () => {
  async function closedPort(): Promise<number> {
    return new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
  }

  it('a refused connection fails at once with one line (no minutes of retries)', async () => {
    const port = await closedPort();
    const env = freshEnv({ HF_ENDPOINT: `http://127.0.0.1:${port}`, PETREL_BACKOFF_MS: '2000', PETREL_RETRIES: '8' });
    const started = Date.now();
    const r = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`petrel: cannot reach 127.0.0.1:${port}: connection refused (ECONNREFUSED)\n`);
  });

  it('retries of the hub API say attempt n/N and how long they wait', async () => {
    const env = freshEnv({ HF_ENDPOINT: mirror.url, PETREL_RETRIES: '3' });
    let left = 2;
    mirror.rules = [(p) => (p.startsWith('/api/') && left-- > 0 ? { status: 503, body: 'busy' } : undefined)];
    const r = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/HTTP 503 from .*; retrying in \d+\.\d s \(attempt 1\/3\)\n.*retrying in \d+\.\d s \(attempt 2\/3\)/);
  });

  it('Ctrl-C before any byte arrived does not claim a partial download is kept', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const env = freshEnv({ HF_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` });
      const run = startPetrel(['pull', 'hf:owner/Small-GGUF'], env);
      await waitFor(() => sockets.size > 0, 10_000);
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.status).toBe(130);
      expect(r.stderr).not.toMatch(/partial download is kept/);
      expect(r.stderr).toMatch(/interrupted before anything was downloaded/);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('Ctrl-C during a download says how much is kept', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 2 << 20 };
    const run = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    await waitFor(() => existsSync(path.join(blobsOf(env, 'owner/Slow-GGUF'), `${sha256(slow)}.petrel-partial.json`)), 10_000);
    await new Promise((r) => setTimeout(r, 800));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.status).toBe(130);
    expect(r.stderr).toMatch(/interrupted; [\d.]+ [KM]iB of Slow-Q4_K_M.gguf is kept, run "petrel pull hf:owner\/Slow-GGUF" again to resume/);
  });
});

describe('a mirror that only knows branch names', () => {
  it('answers 404 to tree/<commit> and resolve/<commit>: pull falls back to the revision name', async () => {
    const env = freshEnv({ HF_ENDPOINT: mirror.url });
    mirror.rules = [onlyBranchNames];
    const r = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(mirror.log.map((l) => l.url)).toEqual(expect.arrayContaining([expect.stringMatching(/\/tree\/main\?/), expect.stringMatching(/\/resolve\/main\/Small-Q4_K_M.gguf/)]));
    expect(readFileSync(r.stdout.trim()).equals(small)).toBe(true);
    // The snapshot is still filed under the commit, and refs/main points at it.
    expect(r.stdout.trim()).toContain(`snapshots/${C1}/`);
  });

  it('a mirror that lists the commit but serves files only by branch name: resolve falls back, once per pull', async () => {
    const env = freshEnv({ HF_ENDPOINT: mirror.url });
    mirror.rules = [(p) => (/\/resolve\/[0-9a-f]{40}\//.test(p) ? { status: 404, body: 'Revision not found' } : undefined)];
    const r = await petrel(['pull', 'hf:owner/Split-GGUF:Q8_0'], env);
    expect(r.status, r.stderr).toBe(0);
    const resolves = mirror.log.map((l) => l.url).filter((u) => u.includes('/resolve/'));
    // The memory check's header read found out; the three parts then went straight to resolve/main.
    expect(resolves.filter((u) => u.includes(`/resolve/${C2}/`))).toHaveLength(1);
    expect(resolves.filter((u) => u.includes('/resolve/main/'))).toHaveLength(4);
    expect(r.stderr).toMatch(/was not found; trying .*\/resolve\/main\//);
  });

  it('a mirror without the tree API: the file names from model info are enough', async () => {
    const env = freshEnv({ HF_ENDPOINT: mirror.url });
    mirror.rules = [(p) => (/\/tree\//.test(p) ? { status: 404, body: 'not found' } : undefined)];
    const r = await petrel(['pull', 'hf:owner/Small-GGUF'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(r.stdout.trim()).equals(small)).toBe(true);
  });
});

describe('the memory check reads the remote header', () => {
  it('a file that is not GGUF is one line saying so; nothing is downloaded', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'hf:owner/Junk-GGUF'], env);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`petrel: ${server.url}/owner/Junk-GGUF/resolve/${C1}/Junk-Q4_K_M.gguf: not a GGUF file (bad magic)`);
    expect(existsSync(path.join(blobsOf(env, 'owner/Junk-GGUF'), sha256(pseudoRandom(300_000, 35))))).toBe(false);
  });

  it('a listing whose file path climbs out of the repository is refused in one line; nothing is written', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'hf:owner/Escape-GGUF'], env);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^petrel: the hub's listing of owner\/Escape-GGUF has an invalid file path/);
    noStack(r.stderr);
    expect(server.fileRequests()).toEqual([]);
    for (const dir of [env.HF_HOME, path.join(env.HF_HOME, 'hub'), tmp]) expect(existsSync(path.join(dir, 'escaped-Q4_K_M.gguf'))).toBe(false);
  });
});

describe('output for scripts', () => {
  it('pull --json: progress carries a real rate and totals over all files of the model', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Split-Q8_0-00002-of-00003.gguf', bytesPerSecond: 4 << 20 };
    const r = await petrel(['pull', 'hf:owner/Split-GGUF:Q8_0', '--json'], env);
    expect(r.status, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    const progress = events.filter((e) => e.event === 'progress');
    const all = parts.reduce((s, p) => s + p.length, 0);
    expect(progress.length).toBeGreaterThan(3);
    for (const p of progress) expect(p.totalSize).toBe(all);
    expect(progress.some((p) => (p.rate as number) > 0)).toBe(true);
    const second = progress.filter((p) => p.file === 'Split-Q8_0-00002-of-00003.gguf');
    expect(second.every((p) => (p.totalBytes as number) === parts[0]!.length + (p.bytes as number))).toBe(true);
    expect(progress.at(-1)!.totalBytes).toBe(all);
    const totals = progress.map((p) => p.totalBytes as number);
    expect(totals).toEqual([...totals].sort((x, y) => x - y));
  });

  it('list --help describes the JSON that list --json prints', async () => {
    const help = runPetrel(['list', '--help']);
    expect(help.stdout).toMatch(/--json\s+print JSON: \{"models": \[…\], "partial": \[…\]\}/);
    expect(help.stdout).not.toMatch(/JSON array/);
    const out = JSON.parse(runPetrel(['list', '--json'], { env: freshEnv() }).stdout) as unknown;
    expect(out).toEqual({ models: [], partial: [] });
  });

  it('a URL pull shows its real size and is listed (and removed) by its URL', async () => {
    const env = freshEnv();
    const data = pseudoRandom(150_000, 33);
    const url = server.addPlainFile('direct-Q8_0.gguf', data);
    const r = await petrel(['pull', url], env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\b0 B\b/);
    expect(r.stderr).toMatch(/^pulling .*: 1 file\n  direct-Q8_0.gguf \(146 KiB\)\n/);
    const models = list(env).models;
    expect(models).toEqual([expect.objectContaining({ name: url, size: data.length })]);
    expect(runPetrel(['list'], { env }).stdout).toContain(url);
    expect(runPetrel(['show', url], { env }).stderr).not.toMatch(/not downloaded/);
    const rm = runPetrel(['rm', url], { env });
    expect(rm.status, rm.stderr).toBe(0);
    expect(list(env).models).toEqual([]);
    // Neither the file nor the URL kept beside it is left.
    const left = readdirSync(path.join(env.HF_HOME, 'xdg', 'petrel', 'urls'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(left.map((d) => d.name)).toEqual([]);
  });
});

describe('plain URLs', () => {
  it('a missing file is one line without hub advice', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', `${server.url}/files/nope.gguf`], env);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`petrel: ${server.url}/files/nope.gguf: not found (HTTP 404)`);
  });

  it('encoded slashes and dots in the path cannot write outside the URL cache', async () => {
    const env = freshEnv();
    const data = pseudoRandom(10_000, 34);
    const url = server.addPlainFile('..%2F..%2F..%2F..%2Fescape.gguf', data);
    const r = await petrel(['pull', url], env);
    expect(r.status, r.stderr).toBe(0);
    const urls = path.join(env.HF_HOME, 'xdg', 'petrel', 'urls');
    expect(r.stdout.trim()).toBe(path.join(urls, new URL(server.url).host.replace(':', '_'), 'files', 'escape.gguf'));
    expect(existsSync(path.join(env.HF_HOME, 'xdg', 'escape.gguf'))).toBe(false);
  });
});

describe('help', () => {
  it('pull, list and rm show examples; pull names its environment variables', () => {
    for (const cmd of ['pull', 'list', 'rm']) {
      const h = runPetrel([cmd, '--help']);
      expect(h.status).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`Examples:\\n  petrel ${cmd}\\b`));
    }
    const pull = runPetrel(['pull', '--help']).stdout;
    for (const v of ['HF_TOKEN', 'HF_ENDPOINT', 'HF_HUB_CACHE']) expect(pull).toMatch(new RegExp(`\\n  ${v} `));
    expect(pull).toMatch(/-c, --ctx <tokens>/);
  });

  it('pull -c is --ctx; a bad value names the flag', async () => {
    const env = freshEnv();
    const bad = runPetrel(['pull', 'hf:owner/Small-GGUF', '-c', 'lots'], { env });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/-c\/--ctx must be a whole number > 0/);
    const r = await petrel(['pull', 'hf:owner/Small-GGUF', '-c', '4096', '--json'], env);
    expect(r.status, r.stderr).toBe(0);
    const check = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; what?: string; detail?: string }).find((e) => e.what === 'memory');
    expect(check?.detail).toMatch(/at context 4096/);
  });
});
