// The Foundation checks a user would do first: --version, synth + show, and clear errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPetrel } from '../support/cli.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'petrel-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('petrel CLI', () => {
  it('--version prints the version, CPU features and backends', () => {
    const r = runPetrel(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^petrel \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/cpu features: /);
    expect(r.stdout).toMatch(/backends compiled in: cpu/);
    expect(r.stderr).toBe('');
  });

  it('-v is --version; it names the backends models run on, and says CUDA runs none yet, as bench --help does', () => {
    const v = runPetrel(['-v']);
    expect(v.status).toBe(0);
    expect(v.stdout).toBe(runPetrel(['--version']).stdout);
    const vulkan = /compiled in: .*vulkan(,|$)/m.test(v.stdout);
    expect(v.stdout).toMatch(vulkan ? /^inference: +cpu, vulkan \(--device auto\|cpu\|vulkan\)$/m : /^inference: +cpu$/m);
    // "cuda" alone would read as GPU inference; the CUDA library built today only finds devices
    // and runs its kernel tests.
    expect(v.stdout).not.toMatch(/compiled in: .*cuda(,|$)/m);
    expect(runPetrel(['bench', '--help']).stdout.replace(/\s+/g, ' ')).toContain('CUDA inference is not implemented yet');
  });

  it('show, quantize and synth --help have examples; run and bench --help explain their thread defaults', () => {
    for (const cmd of ['show', 'quantize', 'synth', 'run', 'chat', 'bench']) {
      const r = runPetrel([cmd, '--help']);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/\nExamples:\n {2}petrel /);
    }
    expect(runPetrel(['run', '--help']).stdout).toMatch(/bench defaults\s+to one per physical core/);
    expect(runPetrel(['bench', '--help']).stdout.replace(/\s+/g, ' ')).toMatch(/one per physical core, here \d+, as llama-bench; run and chat use one per hardware thread/);
  });

  it('a usage error is one line pointing at the subcommand\'s help', () => {
    const r = runPetrel(['show']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('petrel show: missing required argument \'model\' (see "petrel show --help")\n');
    const q = runPetrel(['quantize', 'a', 'b', 'c', '--threads', 'lots']);
    expect(q.stderr).toMatch(/^petrel quantize: [^\n]*--threads[^\n]*\(see "petrel quantize --help"\)\n$/);
  });

  it('--help lists the commands', () => {
    const r = runPetrel(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('show');
    expect(r.stdout).toContain('synth');
  });

  it('synth tiny + show prints the architecture and layer pattern; --json is machine-readable', () => {
    const file = path.join(dir, 't.gguf');
    const synth = runPetrel(['synth', 'tiny', file]);
    expect(synth.status, synth.stderr).toBe(0);

    const show = runPetrel(['show', file]);
    expect(show.status, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/architecture\s+qwen35/);
    expect(show.stdout).toMatch(/layers\s+\d+: \d+ Gated DeltaNet \+ \d+ attention/);
    expect(show.stdout).toMatch(/chat template\s+yes/);

    const json = runPetrel(['show', file, '--json']);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.architecture).toBe('qwen35');
    expect(report.parameters).toBeGreaterThan(0);
    expect(report.layers.kinds).toMatch(/^[DA]+$/);
    expect(report.tokenizer.model).toBe('gpt2');
  });

  it('show --template prints the chat template, --metadata every key', () => {
    const file = path.join(dir, 'meta.gguf');
    expect(runPetrel(['synth', 'tiny', file, '--layers', '2']).status).toBe(0);
    const t = runPetrel(['show', file, '--template']);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^\{%- set image_count/);
    expect(t.stdout).toContain('<|im_start|>');
    const json = runPetrel(['show', file, '--metadata', '--json']);
    const all = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(all['qwen35.block_count']).toBe(2);
    expect((all['tokenizer.ggml.tokens'] as string[]).length).toBe(512);
    const m = runPetrel(['show', file, '--metadata']);
    expect(m.status, m.stderr).toBe(0);
    const lines = m.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(Object.keys(all));
    expect(m.stdout).toMatch(/^tokenizer\.ggml\.tokens +arr\[str\] +\["!", .*… 512 items\]$/m);
    expect(m.stdout).toMatch(/^qwen35\.attention\.layer_norm_rms_epsilon +f32 +0\.000001$/m);
  });

  it('bench -t beyond the hardware threads is capped with a warning, as run does', () => {
    const file = path.join(dir, 'bench.gguf');
    expect(runPetrel(['synth', 'tiny', file, '--layers', '2']).status).toBe(0);
    const r = runPetrel(['bench', file, '-t', '1000', '-p', '0', '-n', '2', '-r', '1', '--no-warmup', '-o', 'json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^petrel: warning: -t 1000: more than the \d+ hardware threads here; using \d+\n$/);
    const rows = JSON.parse(r.stdout) as Array<{ n_threads: number }>;
    expect(rows.map((row) => row.n_threads)).toEqual([availableParallelism()]);
  });

  it('synth refuses to overwrite without --force', () => {
    const file = path.join(dir, 'exists.gguf');
    writeFileSync(file, 'keep me');
    const r = runPetrel(['synth', 'tiny', file]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('show on a missing or corrupt file is one line on stderr and exit 1', () => {
    const missing = runPetrel(['show', path.join(dir, 'nope.gguf')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^petrel: .*no such file\n$/);

    const bad = path.join(dir, 'bad.gguf');
    writeFileSync(bad, Buffer.from('GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff', 'latin1'));
    const corrupt = runPetrel(['show', bad]);
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr).toMatch(/^petrel: [^\n]+\n$/);
    expect(corrupt.stdout).toBe('');
  });

  it('an unknown command or option exits non-zero with a usage message', () => {
    const r = runPetrel(['frobnicate']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command/);
  });
});
