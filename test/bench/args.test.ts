// bench's argument parsing: llama-bench's list syntax, defaults, and one-line errors for bad values.
import { describe, expect, it } from 'vitest';
import { expandLlamaBenchFlags, parseBenchFlags, parseIntList } from '../../src/bench/args.js';
import { UserError } from '../../src/errors.js';

describe('bench arguments', () => {
  it('defaults to llama-bench: pp512, tg128, depth 0, 5 repetitions, md', () => {
    const o = parseBenchFlags({}, 4);
    expect(o).toMatchObject({ nPrompt: [512], nGen: [128], pg: [], nDepth: [0], repetitions: 5, threads: [4], output: 'md' });
    expect(o.extra).toEqual([]);
    expect(o.vs).toBeUndefined();
    expect(o.warmup).toBe(true);
    expect(o.device).toBe('auto');
    expect(o.gpuLayers).toBeUndefined();
  });

  it('reads comma lists, repeated flags and ranges', () => {
    expect(parseIntList('-p', ['128,512'], 0)).toEqual([128, 512]);
    expect(parseIntList('-n', ['16', '32'], 0)).toEqual([16, 32]);
    expect(parseIntList('-t', ['1-4'], 1)).toEqual([1, 2, 3, 4]);
    expect(parseIntList('-p', ['128-1024*2'], 0)).toEqual([128, 256, 512, 1024]);
    expect(parseIntList('-d', ['0-1024+512'], 0)).toEqual([0, 512, 1024]);
    const o = parseBenchFlags({ nPrompt: ['0'], nGen: ['16,32'], threads: ['1,2'], pg: ['512,128', '64,8,32,4'], nDepth: ['0,16384'] }, 2);
    expect(o.nPrompt).toEqual([0]);
    expect(o.nGen).toEqual([16, 32]);
    expect(o.threads).toEqual([1, 2]);
    expect(o.pg).toEqual([[512, 128], [64, 8], [32, 4]]);
    expect(o.nDepth).toEqual([0, 16384]);
  });

  it('reads the output format, extra columns and the peer', () => {
    expect(parseBenchFlags({ output: 'JSONL' }, 1).output).toBe('jsonl');
    expect(parseBenchFlags({ extra: true }, 1).extra).toEqual(['load', 'ttft', 'rss']);
    expect(parseBenchFlags({ extra: 'rss,load' }, 1).extra).toEqual(['load', 'rss']);
    expect(parseBenchFlags({ vs: 'llama.cpp' }, 1).vs).toBe('llama.cpp');
    expect(parseBenchFlags({ warmup: false, repetitions: '3', seed: '7' }, 1)).toMatchObject({ warmup: false, repetitions: 3, seed: 7 });
    expect(parseBenchFlags({ vram: '1.5', device: 'Simulated' }, 1).offload).toEqual({ device: 'simulated', vramBytes: 1.5 * 1024 ** 3 });
    expect(parseBenchFlags({}, 1).offload).toBeUndefined();
  });

  it('reads the device: auto, cpu, vulkan; the simulated offload device runs the model on the CPU', () => {
    expect(parseBenchFlags({ device: 'Vulkan' }, 1)).toMatchObject({ device: 'vulkan' });
    expect(parseBenchFlags({ device: 'cpu' }, 1)).toMatchObject({ device: 'cpu' });
    expect(parseBenchFlags({ device: ' auto ' }, 1)).toMatchObject({ device: 'auto' });
    expect(parseBenchFlags({ device: 'simulated', vram: '2' }, 1)).toMatchObject({ device: 'cpu', offload: { device: 'simulated', vramBytes: 2 * 1024 ** 3 } });
    // -ngl arrives parsed by the command line (-1 is auto: as if not given).
    expect(parseBenchFlags({ gpuLayers: 99 }, 1).gpuLayers).toBe(99);
    expect(parseBenchFlags({ gpuLayers: 0 }, 1).gpuLayers).toBe(0);
    expect(parseBenchFlags({ gpuLayers: -1 }, 1).gpuLayers).toBeUndefined();
  });

  it.each([
    [{ nPrompt: ['abc'] }, /-p: "abc" is not a whole number/],
    [{ nGen: ['-5'] }, /-n: "-5"/],
    [{ nPrompt: ['12,'] }, /-p: "" is not/],
    [{ threads: ['0'] }, /-t: 0 is below the minimum of 1/],
    [{ repetitions: '0' }, /-r: 0 is below the minimum of 1/],
    [{ repetitions: '2.5' }, /-r: "2.5" is not a whole number/],
    [{ pg: ['512'] }, /-pg: "512" is not a pair/],
    [{ output: 'sql' }, /-o: "sql" is not an output format \(expected md, json, jsonl, csv\)/],
    [{ extra: 'vram' }, /--extra: "vram"/],
    [{ vs: 'ollama' }, /--vs: "ollama" is not a known engine/],
    [{ nDepth: ['512-128'] }, /ends before it starts/],
    [{ nPrompt: ['0'], nGen: ['0'] }, /nothing to run/],
    [{ vram: '8' }, /^bench: --vram goes with --device simulated, the one expert-offload device$/],
    [{ vram: '8', device: 'vulkan' }, /^bench: --vram goes with --device simulated, the one expert-offload device \(not --device vulkan\)$/],
    [{ device: 'simulated' }, /^bench: --device simulated needs --vram GiB, the simulated device's memory$/],
    [{ device: 'gpu' }, /^bench: --device: "gpu" is not a device \(expected auto, cpu, vulkan, or simulated with --vram\)$/],
    // The same words as `petrel --version` and `bench --help`: the CUDA library exists, its inference does not.
    [{ vram: '8', device: 'cuda' }, /--device: "cuda" is not a device \(expected auto, cpu, vulkan, or simulated with --vram; CUDA inference is not implemented yet\)/],
    [{ vram: '-1', device: 'simulated' }, /--vram: "-1" is not a size in GiB/],
    [{ vram: '0', device: 'simulated' }, /--vram: "0" is not a size in GiB/],
  ])('rejects %j with one line', (raw, message) => {
    let error: unknown;
    try {
      parseBenchFlags(raw, 2);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('turns llama-bench one-dash words (-pg, -ngl) into long options, and leaves the rest alone', () => {
    // --ngl is -ngl's own long name (src/cli/deviceFlags.ts).
    expect(expandLlamaBenchFlags(['m.gguf', '-pg', '512,128', '-p', '64', '-ngl', '99', '-n4', '--', '-pg'])).toEqual([
      'm.gguf', '--pg', '512,128', '-p', '64', '--ngl', '99', '-n4', '--', '-pg',
    ]);
  });
});
