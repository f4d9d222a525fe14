// `petrel chat` without a terminal, end to end through the real launcher: one turn per stdin
// line, answers on stdout, the same answers as `petrel run`, /save in one process and /load in
// another continuing exactly where a single process would, and errors as one line with exit 1.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';
import { presetModel, tempDir } from '../engine/helpers/models.js';

const tmp = tempDir('petrel-chat-line-');
let model: string;
const flags = ['--no-think', '-n', '16', '--temp', '0', '-t', '1'];

beforeAll(async () => {
  model = await presetModel('tiny');
});
afterAll(() => tmp.cleanup());

function chat(input: string, extra: string[] = []) {
  return runPetrel(['chat', model, ...flags, ...extra], { input, env: { XDG_STATE_HOME: tmp.dir } });
}

describe('petrel chat (line mode)', () => {
  it('answers one line like petrel run answers the same prompt', () => {
    const run = runPetrel(['run', model, 'hello', ...flags]);
    expect(run.status).toBe(0);
    const r = chat('hello\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(run.stdout.endsWith('\n') ? run.stdout : run.stdout + '\n');
  });

  it('/save in one process, /load in another: the conversation continues as if never stopped', () => {
    const file = path.join(tmp.dir, 'talk.json');
    const whole = chat('one\ntwo\nthree\n');
    expect(whole.status).toBe(0);
    const first = chat(`one\ntwo\n/save ${file}\n`);
    expect(first.status).toBe(0);
    expect(first.stderr).toMatch(/^saved 2 turns \(\d+ tokens\) to .*talk\.json and its model state to .*talk\.json\.state\n$/);
    const second = chat(`/load ${file}\n/stats\nthree\n`);
    expect(second.status).toBe(0);
    expect(second.stderr).toMatch(/^loaded 2 turns/);
    // Resumed from the saved state: nothing of the first two turns was prefilled again.
    expect(second.stderr).toMatch(/session totals: 0 tokens prefilled, 0 generated/);
    expect(first.stdout + second.stdout).toBe(whole.stdout);
  });

  it('commands report errors on stderr and make the exit status 1; the turns go on', () => {
    const r = chat(`/load ${path.join(tmp.dir, 'missing.json')}\n/think sideways\nhi\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`petrel: ${path.join(tmp.dir, 'missing.json')}: no such file\npetrel: usage: /think on|off\n`);
    expect(r.stdout).not.toBe('');
  });

  it('a missing model is one line on stderr and exit 1', () => {
    const missing = runPetrel(['chat', path.join(tmp.dir, 'nope.gguf')], { input: 'hi\n' });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^petrel: /);
  });

  it('is listed under Generate in --help', () => {
    const help = runPetrel(['--help']);
    expect(help.stdout).toMatch(/Generate:\n\s+run .*\n\s+chat /);
  });
});
