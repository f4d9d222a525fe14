// `petrel run` on a known alias that is not downloaded: off a terminal it says how to get it (and
// touches no network); --pull missing downloads it first (progress on stderr, the answer alone on
// stdout), --pull never refuses, and a second run finds it in the cache. Against the local hub stand-in.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureModel } from '../../src/cli/ensureModel.js';
import { type AliasHub, petrelAsync as petrel, startAliasHub } from '../support/aliasHub.js';
import { repoRoot } from '../support/cli.js';

let hub: AliasHub;
beforeAll(async () => {
  hub = await startAliasHub('petrel-run-pull-');
});
afterAll(async () => {
  await hub.close();
});
const env = (): NodeJS.ProcessEnv => hub.env();

describe('run on an alias that is not downloaded', () => {
  it('off a terminal: one line saying how to get it, nothing fetched', async () => {
    hub.server.log.length = 0;
    const e = env();
    for (const extra of [[], ['--pull', 'never']]) {
      const r = await petrel(['run', 'qwen3.5:0.8b', 'hi', '-n', '1', ...extra], e);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^petrel: .*not downloaded.*petrel pull qwen3\.5:0\.8b/);
    }
    expect(hub.server.fileRequests()).toEqual([]);
  });

  it('--pull missing downloads it first, then answers; the next run uses the cache', async () => {
    const e = env();
    hub.server.log.length = 0;
    const first = await petrel(['run', 'qwen3.5:0.8b', 'hi', '-n', '2', '--seed', '1', '--json', '--pull', 'missing'], e);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/pulling qwen3\.5:0\.8b/);
    const json = JSON.parse(first.stdout) as { model: string; generatedTokens: number[] };
    expect(json.model).toContain('models--unsloth--Qwen3.5-0.8B-GGUF');
    expect(hub.server.fileRequests().length).toBeGreaterThan(0);

    hub.server.log.length = 0;
    const again = await petrel(['run', 'qwen3.5:0.8b', 'hi', '-n', '2', '--seed', '1', '--json', '--pull', 'missing'], e);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(hub.server.fileRequests()).toEqual([]);
    expect((JSON.parse(again.stdout) as { generatedTokens: number[] }).generatedTokens).toEqual(json.generatedTokens);
  });

  it('Ctrl-C during the download: one line, exit 130, and the next run takes it up', async () => {
    const e = env();
    hub.server.faults.throttle = { path: 'Qwen3.5-0.8B-Q4_K_M.gguf', bytesPerSecond: 64 * 1024 };
    try {
      const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), 'run', 'qwen3.5:0.8b', 'hi', '-n', '1', '--pull', 'missing'], {
        cwd: repoRoot,
        env: e,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      const end = Date.now() + 30_000;
      while (!/Qwen3\.5-0\.8B-Q4_K_M\.gguf \(/.test(stderr) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGINT');
      expect(await closed).toBe(130);
      const last = stderr.trimEnd().split('\n').at(-1);
      expect(last).toBe('petrel: interrupted; "petrel pull qwen3.5:0.8b" or --pull missing takes the download up again');
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      hub.server.faults = {};
    }
    const again = await petrel(['run', 'qwen3.5:0.8b', 'hi', '-n', '1', '--pull', 'missing', '--json'], e);
    expect(again.status, again.stderr).toBe(0);
  });

  it('--pull takes only missing, never or always', async () => {
    const r = await petrel(['run', 'qwen3.5:0.8b', 'hi', '--pull', 'sometimes'], env());
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^petrel run: .*--pull must be one of missing, never, always/);
  });

  it('on a terminal it asks; declining is one clear error', async () => {
    const questions: string[] = [];
    const ask = async (q: string) => {
      questions.push(q);
      return false;
    };
    // A made-up cache location: the alias is not there.
    process.env.HF_HUB_CACHE = path.join(hub.tmp, 'empty-cache');
    try {
      await expect(ensureModel('qwen3.5:0.8b', { interactive: true, ask })).rejects.toThrow(/not downloaded \(petrel pull qwen3\.5:0\.8b downloads it\)/);
      expect(questions).toEqual(['qwen3.5:0.8b is not downloaded. Download it now? [Y/n] ']);
    } finally {
      delete process.env.HF_HUB_CACHE;
    }
  });
});
