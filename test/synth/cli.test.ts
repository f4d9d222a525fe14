// `petrel synth`: writes the file and one summary line, refuses to overwrite without --force,
// and turns bad presets and options into one-line user errors.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { CommanderError } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { UserError } from '../../src/errors.js';
import { makeTempDir } from './helpers.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
afterEach(() => vi.restoreAllMocks());

async function run(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const program = buildProgram();
  program.commands.forEach((c) => c.exitOverride());
  await program.parseAsync(['node', 'petrel', ...args]);
  return out;
}

describe('petrel synth', () => {
  it('writes the model and prints one summary line', async () => {
    const out = path.join(tmp.dir, 'tiny.gguf');
    const text = await run('synth', 'tiny', out, '--layers', '4', '--type', 'q8_0', '--seed', '3');
    expect(existsSync(out)).toBe(true);
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toContain(out);
    expect(text).toMatch(/tiny, 4 layers, q8_0, seed 3, .*, \d+ tensors, .* params/);
    expect(statSync(out).size).toBeGreaterThan(100_000);
  });

  it('refuses to overwrite without --force', async () => {
    const out = path.join(tmp.dir, 'twice.gguf');
    await run('synth', 'tiny', out, '--layers', '2');
    await expect(run('synth', 'tiny', out, '--layers', '2')).rejects.toThrow(UserError);
    await expect(run('synth', 'tiny', out, '--layers', '2')).rejects.toThrow(/--force/);
    await run('synth', 'tiny', out, '--layers', '2', '--force');
  });

  it('rejects unknown presets (listing them), bad options and missing directories', async () => {
    const out = path.join(tmp.dir, 'x.gguf');
    await expect(run('synth', 'huge', out)).rejects.toThrow(/unknown synth preset "huge"; presets: tiny, tiny-moe, tiny-r3, 0\.8b/);
    await expect(run('synth', 'huge', out)).rejects.toBeInstanceOf(UserError);
    await expect(run('synth', 'tiny', out, '--type', 'q4_0')).rejects.toBeInstanceOf(CommanderError);
    await expect(run('synth', 'tiny', out, '--layers', '0')).rejects.toBeInstanceOf(CommanderError);
    await expect(run('synth', 'tiny', out, '--layers', '1')).rejects.toThrow(/--layers must be a whole number ≥ 2/);
    await expect(run('synth', 'tiny', path.join(tmp.dir, 'no', 'such', 'x.gguf'))).rejects.toThrow(UserError);
    expect(existsSync(out)).toBe(false);
  });
});
