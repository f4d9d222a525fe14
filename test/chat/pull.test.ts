// `petrel chat` on a known alias that is not downloaded, as `petrel run` does it (src/cli/ensureModel.ts):
// off a terminal one line says how to get it and nothing is fetched, --pull never refuses,
// --pull missing downloads it (progress on stderr) and then chats, and the next chat finds it in
// the cache. Against the local hub stand-in, piped (the terminal question is test/run/pull.test.ts's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AliasHub, petrelAsync as petrel, startAliasHub } from '../support/aliasHub.js';

let hub: AliasHub;
beforeAll(async () => {
  hub = await startAliasHub('petrel-chat-pull-');
});
afterAll(async () => {
  await hub.close();
});
const env = (): NodeJS.ProcessEnv => hub.env();

const turn = ['--no-think', '-n', '2', '--temp', '0', '-t', '1'];

describe('chat on an alias that is not downloaded', () => {
  it('off a terminal: one line saying how to get it (--pull missing named), nothing fetched', async () => {
    hub.server.log.length = 0;
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
    expect(hub.server.fileRequests()).toEqual([]);
  });

  it('--pull missing downloads it first, then chats; the next chat uses the cache', async () => {
    const e = env();
    hub.server.log.length = 0;
    const first = await petrel(['chat', 'qwen3.5:0.8b', '--pull', 'missing', '--json', ...turn], e, 'hi\n');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/pulling qwen3\.5:0\.8b/);
    expect(first.stderr).not.toMatch(/\n\s+at /);
    // stdout is the chat's alone: one JSON object for the one turn, no progress.
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ user: 'hi', usage: { generatedTokens: 2 } });
    expect(hub.server.fileRequests().length).toBeGreaterThan(0);

    hub.server.log.length = 0;
    const again = await petrel(['chat', 'qwen3.5:0.8b', '--json', ...turn], e, 'hi\n');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(hub.server.fileRequests()).toEqual([]);
    // The same model from the cache: the same greedy answer.
    expect(JSON.parse(again.stdout).text).toBe(JSON.parse(first.stdout).text);
  });

  it('--pull takes only missing, never or always', async () => {
    const r = await petrel(['chat', 'qwen3.5:0.8b', '--pull', 'sometimes'], env());
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^petrel chat: .*--pull must be one of missing, never, always/);
  });
});
