// --device and -ngl/--gpu-layers on run, chat and bench: the values each takes, llama.cpp's
// spellings, the combinations refused before any load, what reaches loadModel, one-line errors,
// and the help that lists them.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import {
  checkDeviceFlags,
  deviceFlagsProblem,
  deviceLoadOptions,
  GPU_LAYERS_ALL,
  parseDevice,
  parseGpuLayers,
  withLlamaSpellings,
} from '../../src/cli/deviceFlags.js';

describe('flag values', () => {
  it('--device takes auto, cpu or vulkan, in any case', () => {
    const parse = parseDevice();
    expect(['auto', 'CPU', ' Vulkan '].map(parse)).toEqual(['auto', 'cpu', 'vulkan']);
    for (const bad of ['gpu', 'cuda', '', 'simulated']) expect(() => parse(bad)).toThrow(/^--device must be auto, cpu or vulkan$/);
  });

  it('-ngl takes a whole number of layers, all or auto (and -1, llama-bench\'s auto)', () => {
    const parse = parseGpuLayers();
    expect(parse('0')).toBe(0);
    expect(parse('99')).toBe(99);
    expect(parse('ALL')).toBe(GPU_LAYERS_ALL);
    expect(parse('auto')).toBe(-1);
    expect(parse('-1')).toBe(-1);
    expect(parse(String(GPU_LAYERS_ALL))).toBe(GPU_LAYERS_ALL);
    for (const bad of ['-2', '1.5', 'x', '', '1e3', String(GPU_LAYERS_ALL + 1)]) {
      expect(() => parse(bad), bad).toThrow(/^-ngl\/--gpu-layers must be a whole number of layers, all or auto$/);
    }
    expect(() => parse('0,99')).toThrow(/^-ngl\/--gpu-layers takes one value: a model runs wholly on one device$/);
  });

  it("llama.cpp's spellings -ngl and --n-gpu-layers become the option's names, up to --", () => {
    expect(withLlamaSpellings(['m', '-ngl', '99', '--n-gpu-layers', 'all', '-n', '4', '--', '-ngl'])).toEqual([
      'm', '--ngl', '99', '--gpu-layers', 'all', '-n', '4', '--', '-ngl',
    ]);
  });
});

describe('device and -ngl together', () => {
  it('layers on a GPU with the CPU, or none with vulkan, are refused before any load', () => {
    expect(deviceFlagsProblem('cpu', 99)).toBe(
      '-ngl/--gpu-layers puts layers on a GPU, but --device cpu runs the model on the CPU (leave -ngl out, or give 0)',
    );
    expect(deviceFlagsProblem('simulated', GPU_LAYERS_ALL)).toMatch(/--device simulated runs the model on the CPU/);
    expect(deviceFlagsProblem('vulkan', 0)).toBe(
      '-ngl 0 puts no layer on the GPU, but --device vulkan runs the whole model there (leave -ngl out, or give all)',
    );
    for (const [device, layers] of [['cpu', 0], ['cpu', -1], ['vulkan', 99], ['vulkan', -1], ['auto', 0], ['auto', 5], ['cpu', undefined]] as const) {
      expect(deviceFlagsProblem(device, layers), `${device} ${layers}`).toBeUndefined();
    }
    expect(() => checkDeviceFlags({ device: 'cpu', gpuLayers: 1 })).toThrow(expect.objectContaining({ code: 'ERR_USER_ARGS' }));
    expect(() => checkDeviceFlags({ gpuLayers: 1 })).not.toThrow();
  });

  it('loadModel gets device auto unless given, and -ngl only when it says something (auto is not given)', () => {
    expect(deviceLoadOptions({})).toEqual({ device: 'auto' });
    expect(deviceLoadOptions({ device: 'cpu', gpuLayers: 0 })).toEqual({ device: 'cpu', gpuLayers: 0 });
    expect(deviceLoadOptions({ device: 'vulkan', gpuLayers: GPU_LAYERS_ALL })).toEqual({ device: 'vulkan', gpuLayers: GPU_LAYERS_ALL });
    expect(deviceLoadOptions({ gpuLayers: -1 })).toEqual({ device: 'auto' });
  });
});

/** The program with every command's errors collected instead of written. */
function quietProgram(): { program: Command; errors: string[] } {
  const errors: string[] = [];
  const program = buildProgram();
  for (const c of [program, ...program.commands]) c.configureOutput({ ...c.configureOutput(), writeErr: (s: string) => errors.push(s) });
  return { program, errors };
}

describe('run, chat and bench read the flags', () => {
  it.each([
    ['run', ['m.gguf', 'hi']],
    ['chat', ['m.gguf']],
    ['bench', ['m.gguf']],
  ])('%s: --device and -ngl as llama.cpp spells it', async (name, args) => {
    for (const [flags, want] of [
      [['--device', 'Vulkan', '-ngl', '99'], { device: 'vulkan', gpuLayers: 99 }],
      [['--n-gpu-layers', 'all'], { gpuLayers: GPU_LAYERS_ALL }],
      [['--gpu-layers', '0', '--device', 'cpu'], { device: 'cpu', gpuLayers: 0 }],
    ] as const) {
      const { program } = quietProgram();
      const cmd = program.commands.find((c) => c.name() === name)!;
      cmd.action(() => {});
      await program.parseAsync(['node', 'petrel', name, ...args, ...flags]);
      // bench reads --device itself (it also knows simulated); run and chat get it parsed.
      const opts = cmd.opts();
      expect(name === 'bench' && opts.device ? { ...opts, device: opts.device.toLowerCase() } : opts).toMatchObject(want);
    }
  });

  it.each([
    ['run', ['m', 'hi', '--device', 'gpu'], 'petrel run: option \'--device <name>\' argument \'gpu\' is invalid. --device must be auto, cpu or vulkan (see "petrel run --help")\n'],
    ['chat', ['m', '-ngl', 'x'], 'petrel chat: option \'-ngl, --gpu-layers <n>\' argument \'x\' is invalid. -ngl/--gpu-layers must be a whole number of layers, all or auto (see "petrel chat --help")\n'],
    ['bench', ['m', '-ngl', '0,99'], 'petrel bench: option \'-ngl, --gpu-layers <n>\' argument \'0,99\' is invalid. -ngl/--gpu-layers takes one value: a model runs wholly on one device (see "petrel bench --help")\n'],
    ['run', ['m', 'hi', '-ngl'], 'petrel run: option \'-ngl, --gpu-layers <n>\' argument missing (see "petrel run --help")\n'],
  ])('%s %j is one line naming the flag', async (name, args, line) => {
    const { program, errors } = quietProgram();
    await expect(program.parseAsync(['node', 'petrel', name, ...args])).rejects.toThrow();
    expect(errors.join('')).toBe(line);
  });

  it('petrel --help names the flags; run, chat and bench --help list them', () => {
    const program = buildProgram();
    let top = '';
    program.configureOutput({ writeOut: (s) => (top += s) });
    program.outputHelp();
    expect(top.replace(/\s+/g, ' ')).toContain('run, chat and bench take --device auto|cpu|vulkan');
    expect(top).toContain('-ngl, --gpu-layers N');
    for (const name of ['run', 'chat', 'bench']) {
      const help = program.commands.find((c) => c.name() === name)!.helpInformation();
      expect(help, name).toMatch(/^ {2}--device <name> /m);
      expect(help, name).toMatch(/^ {2}-ngl, --gpu-layers <n> /m);
    }
    const bench = program.commands.find((c) => c.name() === 'bench')!;
    let benchHelp = '';
    bench.configureOutput({ writeOut: (s) => (benchHelp += s) });
    bench.outputHelp();
    expect(benchHelp.replace(/\s+/g, ' ')).toContain('--device and -ngl apply to petrel\'s rows only: llama.cpp (--vs) always runs on the CPU');
  });
});
