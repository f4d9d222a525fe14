// A local hub stand-in that serves the `qwen3.5:0.8b` alias (a tiny synthetic model under the
// alias's repository and file name), fresh homes pointed at it, and petrel run as a child process
// without blocking this one (the stand-in runs in this process and must keep answering). For the
// tests of run and chat on a model that is not downloaded yet.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../../src/synth/index.js';
import { ensureBuilt, repoRoot } from './cli.js';
import { type HfServer, startHfServer } from './hfServer.js';

export interface AliasHub {
  server: HfServer;
  tmp: string;
  /** The environment of a new, empty home whose hub is the stand-in. */
  env(): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function startAliasHub(prefix: string): Promise<AliasHub> {
  ensureBuilt();
  const tmp = mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(tmp, 'tiny.gguf');
  await synthesize('tiny', file, { type: 'q8_0', seed: 2, layers: 2 });
  const server = await startHfServer([
    { id: 'unsloth/Qwen3.5-0.8B-GGUF', commit: '1'.repeat(40), files: [{ path: 'Qwen3.5-0.8B-Q4_K_M.gguf', data: readFileSync(file) }] },
  ]);
  let homes = 0;
  return {
    server,
    tmp,
    env() {
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
    },
    async close() {
      await server.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** Runs petrel with `input` on its stdin (closed at once when there is none). */
export function petrelAsync(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), ...args], {
      cwd: repoRoot,
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}
