// `petrel bench` end to end through the real launcher, on tiny models: output structure, --vs
// llama.cpp rows and ratio, --device and -ngl, --vram with the simulated offload device, one-line
// errors. Speeds are not checked (the machine is shared).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../../src/synth/index.js';
import { loadNative } from '../../src/native/index.js';
import { runPetrel } from '../support/cli.js';
import { expectedBenchFields } from '../support/llamaBench.js';
import { LlamaFtype, llamaQuantize } from '../support/llamaQuantize.js';
import { skipIfReason } from '../support/skip.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-cli-'));
const q8 = path.join(dir, 'tiny-q8_0.gguf');
const q4km = path.join(dir, 'tiny-q4_k_m.gguf');
const moe = path.join(dir, 'tiny-moe-q8_0.gguf');

beforeAll(async () => {
  await synthesize('tiny', q8, { type: 'q8_0' });
  await synthesize('tiny-moe', moe, { type: 'q8_0' });
  const f32 = path.join(dir, 'tiny-f32.gguf');
  await synthesize('tiny', f32, { type: 'f32' });
  llamaQuantize(f32, q4km, LlamaFtype.MOSTLY_Q4_K_M);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('petrel bench', () => {
  it('-o json: one llama-bench object per test, every repetition in the samples', () => {
    const r = runPetrel(['bench', q8, '-p', '16', '-n', '4', '-r', '2', '-t', '1', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual([...expectedBenchFields(), 'samples_ns', 'samples_ts']);
      expect(row).toMatchObject({ model_filename: q8, model_type: 'qwen35 ?B Q8_0', backends: 'CPU', n_threads: 1, n_depth: 0 });
      expect(row.samples_ns).toHaveLength(2);
      expect(row.samples_ts).toHaveLength(2);
      expect(row.avg_ts as number).toBeGreaterThan(0);
    }
    expect(rows.map((x) => [x.n_prompt, x.n_gen])).toEqual([[16, 0], [0, 4]]);
  });

  it('md: the llama-bench table with -pg and -d test names and the build footer', () => {
    const r = runPetrel(['bench', q8, '-p', '8', '-n', '0', '-pg', '8,2', '-d', '0,16', '-r', '1', '-t', '1']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\| model {26}\| {7}size \| {5}params \| backend {4}\| threads \| {12}test \| {18}t\/s \|$/);
    const tests = lines.slice(2, 6).map((l) => l.split('|')[6]!.trim());
    expect(tests).toEqual(['pp8', 'pp8+tg2', 'pp8 @ d16', 'pp8+tg2 @ d16']);
    expect(lines[6]).toBe('');
    expect(lines[7]).toMatch(/^build: \S+ \(\d+\)$/);
  });

  it('--vs llama.cpp: both engines per test and the ratio; llama.cpp names the model as petrel does', () => {
    const r = runPetrel(['bench', q4km, '-p', '16', '-n', '2', '-r', '1', '-t', '1', '--vs', 'llama.cpp']);
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\| qwen35/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    expect(rows.map((c) => [c[6], c[7]])).toEqual([['petrel', 'pp16'], ['llama.cpp', 'pp16'], ['petrel', 'tg2'], ['llama.cpp', 'tg2']]);
    for (const c of rows) expect(c[1]).toBe('qwen35 ?B Q4_K - Medium');
    expect(rows[0]![9]).toMatch(/^\d+\.\d\d×$/);
    expect(rows[1]![9]).toBe('');
    expect(r.stdout).toMatch(/\nllama\.cpp: \S+ \(\d+\), prebuilt CPU library of node-llama-cpp\n$/);
  });

  it.each([
    [['-p', 'abc'], /^petrel: bench: -p: "abc" is not a whole number/],
    [['-pg', '512'], /^petrel: bench: -pg: "512" is not a pair/],
    [['-o', 'sql'], /^petrel: bench: -o: "sql" is not an output format/],
    [['-t', '0'], /^petrel: bench: -t: 0 is below the minimum of 1/],
    [['--device', 'gpu'], /^petrel: bench: --device: "gpu" is not a device/],
    [['--device', 'cpu', '-ngl', '99'], /^petrel: bench: -ngl\/--gpu-layers puts layers on a GPU, but --device cpu runs the model on the CPU/],
    [['-ngl', 'many'], /^petrel bench: option '-ngl, --gpu-layers <n>' argument 'many' is invalid/],
  ])('%j is one line on stderr and exit 1', (args, message) => {
    const r = runPetrel(['bench', q8, ...args]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--vram with the simulated device: the offload fields, a hit rate between 0 and 1 that all slots make 1', () => {
    const big = runPetrel(['bench', moe, '-p', '16', '-n', '4', '-r', '1', '-t', '1', '--vram', '64', '--device', 'simulated', '-o', 'json']);
    expect(big.stderr).toBe('');
    expect(big.status).toBe(0);
    const rows = JSON.parse(big.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatchObject({ backends: 'CPU+sim', expert_hit_rate: 1, upload_bytes_per_token: 0 });
    }
    // 256 MiB of reserve plus next to nothing: a budget that holds no expert.
    const small = runPetrel(['bench', moe, '-p', '16', '-n', '0', '-r', '1', '-t', '1', '--vram', '0.25', '--device', 'simulated', '-o', 'json']);
    expect(small.status).toBe(0);
    expect((JSON.parse(small.stdout) as Array<Record<string, unknown>>)[0]).toMatchObject({ expert_hit_rate: 0 });
  });

  it('--device cpu: the CPU backend, no GPU, no layers on one', () => {
    const r = runPetrel(['bench', q8, '-p', '8', '-n', '0', '-r', '1', '-t', '1', '--device', 'cpu', '-ngl', '0', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as Array<Record<string, unknown>>)[0]).toMatchObject({ backends: 'CPU', gpu_info: '', n_gpu_layers: 0 });
  });

  it('--device vulkan: backend Vulkan, the device in gpu_info, every layer on it; llama.cpp stays on the CPU', (ctx) => {
    skipIfReason(ctx, loadNative().systemInfo().backendsAvailable.includes('vulkan') ? undefined : 'no Vulkan device');
    const r = runPetrel(['bench', q8, '-p', '8', '-n', '0', '-r', '1', '-t', '1', '--device', 'vulkan', '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as Array<Record<string, unknown>>)[0]).toMatchObject({
      backends: 'Vulkan', gpu_info: expect.stringMatching(/\S/), n_gpu_layers: 8,
    });
    const md = runPetrel(['bench', q8, '-p', '8', '-n', '0', '-r', '1', '-t', '1', '--device', 'vulkan', '-ngl', 'all', '--vs', 'llama.cpp']);
    expect(md.status, md.stderr).toBe(0);
    const lines = md.stdout.split('\n');
    expect(lines[0]).toMatch(/^\| model +\| +size \| +params \| backend +\| ngl \| threads \| engine +\|/);
    const rows = lines.filter((l) => /^\| qwen35/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    expect(rows.map((c) => [c[4], c[5], c[7]])).toEqual([['Vulkan', '8', 'petrel'], ['CPU', '0', 'llama.cpp']]);
  });

  it('a missing model file is one line and exit 1', () => {
    const r = runPetrel(['bench', path.join(dir, 'nope.gguf'), '-r', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^petrel: [^\n]+\n$/);
  });
});
