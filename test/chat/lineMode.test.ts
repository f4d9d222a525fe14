// `petrel chat` without a terminal, end to end through the real launcher: one turn per stdin
// line, answers on stdout, the same answers as `petrel run`, /save in one process and /load in
// another continuing exactly where a single process would, errors as one line with exit 1, and
// --json's one object per turn.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
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

  it('/save to a directory and /load of a directory or a non-JSON file: one clear line each, nothing written', () => {
    const dir = path.join(tmp.dir, 'adir');
    mkdirSync(dir);
    const notJson = path.join(tmp.dir, 'notes.txt');
    writeFileSync(notJson, 'hello\n');
    const r = chat(`/save ${dir}\n/load ${dir}\n/load ${notJson}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `petrel: ${dir} is a directory; give a file name (/save ${path.join(dir, 'chat.json')})\n` +
        `petrel: ${dir}: is a directory\n` +
        `petrel: ${notJson} is not a petrel chat file (not JSON)\n`,
    );
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('adir'))).toEqual(['adir']);
  });

  it('--json: one JSON object per turn, a failed turn included; commands stay on stderr', () => {
    const plain = chat('hello\nand then?\n');
    expect(plain.status).toBe(0);
    const long = 'word '.repeat(400).trim();
    const r = chat(`hello\n/stats\nand then?\n${long}\nbye\n`, ['--json', '-c', '256']);
    expect(r.status).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    const turns = lines.map((l) => JSON.parse(l));
    expect(turns.map((t) => t.user)).toEqual(['hello', 'and then?', long, 'bye']);
    // The same answers as without --json (same context for the first two turns: nothing is dropped).
    expect(`${turns[0].text}\n${turns[1].text}\n`).toBe(plain.stdout);
    expect(turns[0]).toMatchObject({ reasoning: '', finishReason: 'length', notices: [] });
    expect(turns[0].usage).toMatchObject({ generatedTokens: 16, contextLength: 256 });
    expect(turns[0].usage.promptTokens).toBeGreaterThan(0);
    expect(turns[1].usage.contextUsed).toBeGreaterThan(turns[0].usage.contextUsed);
    expect(Object.keys(turns[0].timings)).toEqual(['prefillMs', 'generateMs', 'prefillTokensPerSecond', 'generateTokensPerSecond']);
    expect(turns[2].error.message).toMatch(/tokens/);
    expect(typeof turns[2].error.code).toBe('string');
    expect(turns[3].finishReason).toBe('length');
    expect(r.stderr).toMatch(/^model: /m);
    expect(r.stderr).toContain(`petrel: ${turns[2].error.message}\n`);
  });

  it('-t beyond the hardware threads is capped with a warning, as in run', () => {
    const r = runPetrel(['chat', model, '--no-think', '-n', '2', '--temp', '0', '-t', '1000'], { input: 'hi\n', env: { XDG_STATE_HOME: tmp.dir } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^petrel: warning: -t\/--threads 1000 is more than the \d+ hardware threads here; using \d+\n$/);
    expect(r.stdout).not.toBe('');
  });

  it('-c beyond the trained context warns; far beyond it is refused in one line naming the flag', () => {
    // The tiny model was trained for 4096 tokens; up to 4× that is allowed, with a warning.
    const beyond = chat('hi\n', ['-c', '8192']);
    expect(beyond.status).toBe(0);
    expect(beyond.stderr).toBe('petrel: warning: -c/--ctx 8192 is beyond the 4,096 tokens this model was trained for; answers past that may degrade\n');
    expect(beyond.stdout).not.toBe('');
    const far = chat('hi\n', ['-c', '100000000']);
    expect(far.status).toBe(1);
    expect(far.stdout).toBe('');
    expect(far.stderr).toBe('petrel: -c/--ctx 100000000 is far beyond the 4,096 tokens this model was trained for (at most 16,384, 4×, is allowed)\n');
    const bad = chat('hi\n', ['-n', '0']);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('-n/--max-tokens');
  });

  it('a turn cut inside its reasoning says so in one line, as run does; --json lists it in notices', () => {
    const args = ['chat', model, '-n', '2', '--temp', '0', '-t', '1'];
    const env = { XDG_STATE_HOME: tmp.dir };
    const note = '-n 2 ran out while the model was still reasoning: no answer; raise -n or turn reasoning off (/think off)';
    const r = runPetrel(args, { input: 'hello\n', env });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('\n');
    expect(r.stderr).toBe(`petrel: warning: ${note}\n`);
    const j = runPetrel([...args, '--json'], { input: 'hello\n', env });
    expect(j.status).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ text: '', finishReason: 'length', notices: [{ level: 'warn', text: note }] });
    // An answer (no reasoning asked for) gets no such line.
    expect(runPetrel([...args, '--no-think'], { input: 'hello\n', env }).stderr).toBe('');
  });

  it('--help names --json and what Ctrl-D does during an answer', () => {
    const help = runPetrel(['chat', '--help']);
    expect(help.stdout).toContain('--json');
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('Ctrl-D quits (exit 0; during an answer it stops it first)');
    // The thread default explained as run's help explains it, and --pull as run has it.
    const flat = help.stdout.replace(/\s+/g, ' ');
    expect(flat).toMatch(/-t, --threads <n> CPU threads \(default: one per hardware thread, here \d+; at most that many\)/);
    expect(flat).toContain('Threads: run and chat default to one per hardware thread');
    expect(flat).toContain('--pull <when> download the model first: missing');
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
