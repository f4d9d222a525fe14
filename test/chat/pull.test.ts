// `petrel chat` on a known alias that is not downloaded, as `petrel run` does it (src/cli/ensureModel.ts):
// off a terminal one line says how to get it and nothing is fetched, --pull never refuses,
// --pull missing downloads it (progress on stderr) and then chats, and the next chat finds it in
// the cache. Against the local hub stand-in, piped (the terminal question is test/run/pull.test.ts's).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../src/synth/index.js';
import { ensureBuilt, repoRoot } from '../support/cli.js';
import { type HfServer, startHfServer } from '../support/hfServer.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'petrel-chat-pull-'));
let server: HfServer;

beforeAll(async () => {
  ensureBuilt();
  const file = path.join(tmp, 'tiny.gguf');
  await synthesize('tiny', file, { type: 'q8_0', seed: 2, layers: 2 });
  server = await startHfServer([
    { id: 'unsloth/Qwen3.5-0.8B-GGUF', commit: '1'.repeat(40), files: [{ path: 'Qwen3.5-0.8B-Q4_K_M.gguf', data: readFileSync(file) }] },
  ]);
});
afterAll(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

let homes = 0;
function env(): NodeJS.ProcessEnv {
  const home = path.join(tmp, `home${homes++}`);
  return {
    ...process.env,
    NO_COLOR: '1',
    HF_ENDPOINT: server.url,
    HF_HOME: home,
    HF_HUB_CACHE: '',
    XDG_CACHE_HOME: path.join(home, 'xdg'),
    XDG_STATE_HOME: path.join(home, 'state'),
  };
}

// Asynchronous: the hub stand-in runs in this process and must keep answering.
function petrel(args: string[], e: NodeJS.ProcessEnv, input = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), ...args], { cwd: repoRoot, env: e, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const turn = ['--no-think', '-n', '2', '--temp', '0', '-t', '1'];

describe('chat on an alias that is not downloaded', () => {
  it('off a terminal: one line saying how to get it (--pull missing named), nothing fetched', async () => {
    server.log.length = 0;
    const e = env();
    const plain = await petrel(['chat', 'qwen3.5:0.8b', ...turn], e, 'hi\n');
    expect(plain.status).toBe(1);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toBe('petrel: qwen3.5:0.8b is not downloaded; run "petrel pull qwen3.5:0.8b" first, or pass --pull missing\n');
    const never = await petrel(['chat', 'qwen3.5:0.8b', '--pull', 'never', ...turn], e, 'hi\n');
    expect(never.status).toBe(1);
    expect(never.stdout).toBe('');
    expect(never.stderr.trim().split('\n'), never.stderr).toHaveLength(1);
    expect(never.stderr).toMatch(/^petrel: .*not downloaded.*petrel pull qwen3\.5:0\.8b/);
    expect(server.fileRequests()).toEqual([]);
  });

  it('--pull missing downloads it first, then chats; the next chat uses the cache', async () => {
    const e = env();
    server.log.length = 0;
    const first = await petrel(['chat', 'qwen3.5:0.8b', '--pull', 'missing', '--json', ...turn], e, 'hi\n');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/pulling qwen3\.5:0\.8b/);
    expect(first.stderr).not.toMatch(/\n\s+at /);
    // stdout is the chat's alone: one JSON object for the one turn, no progress.
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ user: 'hi', usage: { generatedTokens: 2 } });
    expect(server.fileRequests().length).toBeGreaterThan(0);

    server.log.length = 0;
    const again = await petrel(['chat', 'qwen3.5:0.8b', '--json', ...turn], e, 'hi\n');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(server.fileRequests()).toEqual([]);
    // The same model from the cache: the same greedy answer.
    expect(JSON.parse(again.stdout).text).toBe(JSON.parse(first.stdout).text);
  });

  it('--pull takes only missing, never or always', async () => {
    const r = await petrel(['chat', 'qwen3.5:0.8b', '--pull', 'sometimes'], env());
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^petrel chat: .*--pull must be one of missing, never, always/);
  });
});
