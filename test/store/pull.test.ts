// End to end: the real CLI (`petrel pull/list/show/rm`) against the hub stand-in, with the HF cache in a temp dir.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';
import { HfServer, startHfServer } from '../support/hfServer.js';
import { makeGguf, petrel, pseudoRandom, sha256, startPetrel } from './fixtures.js';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);
const C3 = '3'.repeat(40);
let server: HfServer;
let tmp: string;
let real: Buffer;
let q8: Buffer;
let slow: Buffer;
const parts = [1, 2, 3].map((i) => makeGguf({ seed: i, padTo: 300_000 + i }));

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'petrel-pull-'));
  // A real (synthetic-weight) Qwen3.5 GGUF, so `show` can open what `pull` fetched.
  const synth = runPetrel(['synth', 'tiny', path.join(tmp, 'tiny.gguf')]);
  if (synth.status !== 0) throw new Error(synth.stderr);
  real = readFileSync(path.join(tmp, 'tiny.gguf'));
  q8 = makeGguf({ seed: 9, padTo: 200_000 });
  slow = makeGguf({ seed: 11, padTo: 6 << 20 });
  server = await startHfServer([
    {
      id: 'unsloth/Qwen3.5-0.8B-GGUF',
      commit: C1,
      files: [
        { path: 'README.md', data: Buffer.from('# card\n') },
        { path: 'Qwen3.5-0.8B-UD-Q4_K_M.gguf', data: makeGguf({ seed: 5 }) },
        { path: 'Qwen3.5-0.8B-Q4_K_M.gguf', data: real },
        { path: 'Qwen3.5-0.8B-Q8_0.gguf', data: q8 },
        { path: 'mmproj-F16.gguf', data: makeGguf({ seed: 6 }) },
      ],
    },
    {
      id: 'owner/Split-GGUF',
      commit: C2,
      files: [
        { path: 'Split-Q4_K_M.gguf', data: makeGguf({ seed: 12 }) },
        ...parts.map((data, i) => ({ path: `Q8_0/Split-Q8_0-0000${i + 1}-of-00003.gguf`, data })),
      ],
    },
    { id: 'owner/Gated-GGUF', commit: C3, token: 'hf_secret', files: [{ path: 'Gated-Q4_K_M.gguf', data: makeGguf({ seed: 13 }) }] },
    {
      id: 'owner/Huge-GGUF',
      commit: C3,
      files: [
        {
          path: 'Huge-Q4_K_M.gguf',
          // The header describes a model with a KV cache of terabytes at its full context.
          data: makeGguf({ seed: 14, kvs: [['qwen35.block_count', 'u32', 64], ['qwen35.attention.head_count_kv', 'u32', 64], ['qwen35.attention.key_length', 'u32', 4096], ['qwen35.attention.value_length', 'u32', 4096]] }),
        },
      ],
    },
    { id: 'owner/Slow-GGUF', commit: C3, files: [{ path: 'Slow-Q4_K_M.gguf', data: slow }] },
  ]);
});
afterAll(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  server.faults = {};
  server.log.length = 0;
});

let n = 0;
function freshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv & { HF_HOME: string } {
  const home = path.join(tmp, `home${n++}`);
  return { HF_ENDPOINT: server.url, HF_HOME: home, HF_HUB_CACHE: '', XDG_CACHE_HOME: path.join(home, 'xdg'), PETREL_BACKOFF_MS: '50', PETREL_STALL_MS: '3000', ...extra };
}
const hub = (env: { HF_HOME: string }) => path.join(env.HF_HOME, 'hub');

describe('petrel pull', () => {
  it('pulls an alias into the HF cache layout (blob, snapshot link, refs/main); a second pull downloads nothing', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'qwen3.5:0.8b'], env);
    expect(r.status, r.stderr).toBe(0);
    const repoDir = path.join(hub(env), 'models--unsloth--Qwen3.5-0.8B-GGUF');
    const link = path.join(repoDir, 'snapshots', C1, 'Qwen3.5-0.8B-Q4_K_M.gguf');
    expect(r.stdout.trim()).toBe(link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(`../../blobs/${sha256(real)}`);
    expect(readFileSync(link).equals(real)).toBe(true);
    expect(readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(C1);
    expect(readdirSync(path.join(repoDir, 'blobs'))).toEqual([sha256(real)]);
    expect(r.stderr).toMatch(/pulling qwen3.5:0.8b .*unsloth\/Qwen3.5-0.8B-GGUF/);
    expect(r.stderr).toMatch(/done Qwen3.5-0.8B-Q4_K_M.gguf .*sha256 ok/);

    server.log.length = 0;
    const again = await petrel(['pull', 'qwen3.5:0.8b'], env);
    expect(again.status, again.stderr).toBe(0);
    expect(server.fileRequests()).toEqual([]);

    // list, show and rm by alias
    const list = runPetrel(['list', '--json'], { env: env });
    expect(list.status, list.stderr).toBe(0);
    const models = (JSON.parse(list.stdout) as { models: Array<{ name: string; quant: string; size: number }> }).models;
    expect(models).toEqual([expect.objectContaining({ name: 'qwen3.5:0.8b', quant: 'Q4_K_M', size: real.length })]);
    expect(runPetrel(['list'], { env: env }).stdout).toMatch(/NAME\s+QUANT\s+SIZE\s+MODIFIED\nqwen3.5:0.8b\s+Q4_K_M\s+17.6 MiB\s+just now/);
    const show = runPetrel(['show', 'qwen3.5:0.8b'], { env: env });
    expect(show.status, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/architecture\s+qwen35/);
    const rm = runPetrel(['rm', 'qwen3.5:0.8b'], { env: env });
    expect(rm.status, rm.stderr).toBe(0);
    expect(existsSync(repoDir)).toBe(false);
    expect(runPetrel(['show', 'qwen3.5:0.8b'], { env: env }).stderr).toMatch(/not downloaded; run: petrel pull qwen3.5:0.8b/);
  });

  it('a tag picks the quantization; --json prints one event per line', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'qwen3.5:0.8b-q8_0', '--json'], env);
    expect(r.status, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
    expect(events[0]).toMatchObject({ event: 'resolved', files: [{ path: 'Qwen3.5-0.8B-Q8_0.gguf', size: q8.length }] });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['check', 'start', 'done', 'complete']));
    expect(events.at(-1)).toMatchObject({ event: 'complete' });
    expect(r.stderr).toBe('');
  });

  it('a split model is fetched whole and listed once', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'hf:owner/Split-GGUF:Q8_0'], env);
    expect(r.status, r.stderr).toBe(0);
    const snap = path.join(hub(env), 'models--owner--Split-GGUF', 'snapshots', C2, 'Q8_0');
    expect(readdirSync(snap).sort()).toEqual([1, 2, 3].map((i) => `Split-Q8_0-0000${i}-of-00003.gguf`));
    expect(readlinkSync(path.join(snap, 'Split-Q8_0-00002-of-00003.gguf'))).toBe(`../../../blobs/${sha256(parts[1]!)}`);
    const models = (JSON.parse(runPetrel(['list', '--json'], { env: env }).stdout) as { models: Array<{ name: string; size: number; files: string[] }> }).models;
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ name: 'hf:owner/Split-GGUF:Q8_0', size: parts.reduce((s, p) => s + p.length, 0) });
    expect(models[0]!.files).toHaveLength(3);
  });

  it('a gated repository answers 401 without a token and works with HF_TOKEN or $HF_HOME/token', async () => {
    const env = freshEnv();
    const denied = await petrel(['pull', 'hf:owner/Gated-GGUF'], env);
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/needs a Hugging Face token .*HF_TOKEN/);
    const ok = await petrel(['pull', 'hf:owner/Gated-GGUF'], { ...env, HF_TOKEN: 'hf_secret' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(server.log.some((l) => l.url.includes('/resolve/') && l.auth === 'Bearer hf_secret')).toBe(true);

    const env2 = freshEnv();
    mkdirSync(env2.HF_HOME, { recursive: true });
    writeFileSync(path.join(env2.HF_HOME, 'token'), 'hf_secret\n');
    const viaFile = await petrel(['pull', 'hf:owner/Gated-GGUF'], env2);
    expect(viaFile.status, viaFile.stderr).toBe(0);
  });

  it('refuses a model that will not fit in memory (read from the remote header) unless --force', async () => {
    const env = freshEnv();
    const r = await petrel(['pull', 'hf:owner/Huge-GGUF', '--ctx', '262144'], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/will not fit in memory: it needs about .* TiB at context 262144 .*KV cache/);
    // Only the header was read: one ranged request, closed early.
    expect(server.fileRequests().map((l) => l.range)).toEqual(['bytes=0-67108863']);
    expect(existsSync(path.join(hub(env), 'models--owner--Huge-GGUF', 'snapshots'))).toBe(false);
    const forced = await petrel(['pull', 'hf:owner/Huge-GGUF', '--ctx', '262144', '--force'], env);
    expect(forced.status, forced.stderr).toBe(0);
  });

  it('refuses when the disk cannot hold the download (with margin)', async () => {
    const env = freshEnv();
    server.faults.reportSize = { path: 'Split-Q4_K_M.gguf', size: 2 ** 50 };
    const r = await petrel(['pull', 'hf:owner/Split-GGUF'], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not enough disk space in .*: the download needs 1024 TiB plus .* margin, .* is free/);
    expect(server.fileRequests()).toEqual([]);
  });

  it('Ctrl-C keeps the partial download; list shows it; the next pull resumes; rm removes partials', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Slow-GGUF', bytesPerSecond: 0 } as never;
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 2 << 20 };
    const run = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    const blobs = path.join(hub(env), 'models--owner--Slow-GGUF', 'blobs');
    await waitFor(() => existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial.json`)) && server.fileRequests().length > 0, 10_000);
    await new Promise((r) => setTimeout(r, 1200));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.status, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted; [\d.]+ MiB of Slow-Q4_K_M.gguf is kept/);
    expect(existsSync(path.join(blobs, sha256(slow)))).toBe(false);
    const listed = JSON.parse(runPetrel(['list', '--json'], { env: env }).stdout) as { partial: Array<{ file: string; bytes: number }> };
    expect(listed.partial).toEqual([expect.objectContaining({ file: 'Slow-Q4_K_M.gguf' })]);
    expect(listed.partial[0]!.bytes).toBeGreaterThan(1 << 20);

    // rm removes the partial data and its state.
    const env2 = { ...env };
    server.faults = {};
    server.log.length = 0;
    const resumed = await petrel(['pull', 'hf:owner/Slow-GGUF'], env2);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at/);
    expect(server.fileRequests().map((l) => l.range).filter((x) => x !== 'bytes=0-67108863')).not.toContain(`bytes=0-${slow.length - 1}`);
    expect(readFileSync(path.join(blobs, sha256(slow))).equals(slow)).toBe(true);
  });

  it('rm removes partial downloads too', async () => {
    const env = freshEnv();
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 2 << 20 };
    const run = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    const blobs = path.join(hub(env), 'models--owner--Slow-GGUF', 'blobs');
    await waitFor(() => existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial.json`)), 10_000);
    run.child.kill('SIGINT');
    expect((await run.done).status).toBe(130);
    const rm = runPetrel(['rm', 'hf:owner/Slow-GGUF'], { env: env });
    expect(rm.status, rm.stderr).toBe(0);
    expect(existsSync(path.join(hub(env), 'models--owner--Slow-GGUF'))).toBe(false);
  });

  it('two pulls of the same model at once do not corrupt each other (one waits on the lock)', async () => {
    const env = freshEnv();
    // The second pull starts once the first holds the lock and is downloading (its partial state
    // is on disk), and the download takes ~3 s: started together, a slow or busy machine could
    // start the second process after the first had finished (it did, in a CI run).
    server.faults.throttle = { path: 'Slow-Q4_K_M.gguf', bytesPerSecond: 2 << 20 };
    const a = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    const blobs = path.join(hub(env), 'models--owner--Slow-GGUF', 'blobs');
    await waitFor(() => existsSync(path.join(blobs, `${sha256(slow)}.petrel-partial.json`)), 10_000);
    const b = startPetrel(['pull', 'hf:owner/Slow-GGUF'], env);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.status, ra.stderr).toBe(0);
    expect(rb.status, rb.stderr).toBe(0);
    expect(ra.stderr + rb.stderr).toMatch(/waiting for another petrel \(pid \d+\)/);
    const blob = path.join(hub(env), 'models--owner--Slow-GGUF', 'blobs', sha256(slow));
    expect(readFileSync(blob).equals(slow)).toBe(true);
    expect(readdirSync(path.dirname(blob))).toEqual([sha256(slow)]);
  });

  it('plain https:// style URLs download into petrel\'s URL cache; errors name the problem', async () => {
    const env = freshEnv();
    const data = pseudoRandom(100_000, 21);
    const url = server.addPlainFile('direct-Q4_0.gguf', data);
    const r = await petrel(['pull', url], env);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(r.stdout.trim()).equals(data)).toBe(true);
    const missing = await petrel(['pull', 'hf:owner/Nope-GGUF'], env);
    expect(missing.stderr).toMatch(/owner\/Nope-GGUF: not found on the hub/);
    const noQuant = await petrel(['pull', 'hf:owner/Split-GGUF:IQ1_S'], env);
    expect(noQuant.stderr).toMatch(/has no IQ1_S file; available: Q4_K_M, Q8_0/);
  });

  it('a server that refuses the connection is one line naming the host, at once, not a stack', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const env = freshEnv({ HF_ENDPOINT: `http://127.0.0.1:${closed}`, PETREL_RETRIES: '2' });
    const r = await petrel(['pull', 'hf:owner/Tiny-GGUF'], env);
    expect(r.status).toBe(1);
    // No retries: nothing listens there; one line that names the host, no stack.
    expect(r.stderr).not.toMatch(/retrying/);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`petrel: cannot reach 127.0.0.1:${closed}: connection refused (ECONNREFUSED)`);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(existsSync(hub(env))).toBe(false);
  });
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
