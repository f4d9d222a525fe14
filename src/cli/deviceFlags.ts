// --device and -ngl/--gpu-layers, the flags that say where a model runs, shared by run, chat and
// bench. -ngl is spelled as llama.cpp spells it; commander only knows one-letter short flags, so
// the commands that take it read their arguments through withLlamaSpellings first.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Device, LoadModelOptions } from '../engine/index.js';
import { UserError } from '../errors.js';

export const DEVICES = ['auto', 'cpu', 'vulkan'] as const satisfies readonly Device[];

/** -ngl all: any number at least the layer count means every layer (the engine's n_gpu_layers is an int32). */
export const GPU_LAYERS_ALL = 0x7fffffff;

/** -ngl auto (and llama-bench's -1): as if not given, every layer when a GPU runs the model. */
export const GPU_LAYERS_AUTO = -1;

export interface DeviceFlags {
  device?: Device;
  gpuLayers?: number;
}

export const DEVICE_HELP =
  'where the model runs: auto (a Vulkan GPU when one is found and the model fits its memory, else the CPU), cpu, or vulkan (default: auto)';

export const GPU_LAYERS_HELP =
  "layers on the GPU, as llama.cpp's -ngl: all (the default when a GPU runs the model), 0 (none: the CPU), or any " +
  'number at least the layer count; a model runs wholly on one device, so a partial count is refused';

export function parseDevice(name = '--device') {
  return (value: string): Device => {
    const v = value.trim().toLowerCase();
    if (!(DEVICES as readonly string[]).includes(v)) throw new InvalidArgumentError(`${name} must be auto, cpu or vulkan`);
    return v as Device;
  };
}

/** A whole number of layers, `all` or `auto` (-1, llama-bench's default, reads as auto). One value: no lists. */
export function parseGpuLayers(name = '-ngl/--gpu-layers') {
  return (value: string): number => {
    const v = value.trim().toLowerCase();
    if (v === 'all') return GPU_LAYERS_ALL;
    if (v === 'auto' || v === '-1') return GPU_LAYERS_AUTO;
    if (v.includes(',')) throw new InvalidArgumentError(`${name} takes one value: a model runs wholly on one device`);
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > GPU_LAYERS_ALL) throw new InvalidArgumentError(`${name} must be a whole number of layers, all or auto`);
    return n;
  };
}

/** --device, shown with the command's own help. */
export function deviceOption(help = DEVICE_HELP): Option {
  return new Option('--device <name>', help).argParser(parseDevice());
}

/**
 * -ngl, --gpu-layers: defined as `--ngl, --gpu-layers` (commander takes two long names) and shown
 * as llama.cpp spells it; withLlamaSpellings turns the typed `-ngl` into `--ngl`.
 */
export function gpuLayersOption(help = GPU_LAYERS_HELP): Option {
  const option = new Option('--ngl, --gpu-layers <n>', help).argParser(parseGpuLayers());
  option.flags = '-ngl, --gpu-layers <n>';
  return option;
}

/** llama.cpp's spellings of -ngl (`-ngl`, `--n-gpu-layers`) as the option's own names; stops at `--`. */
export function withLlamaSpellings(args: string[]): string[] {
  const end = args.indexOf('--');
  const spelled = (a: string) => (a === '-ngl' ? '--ngl' : a === '--n-gpu-layers' ? '--gpu-layers' : a);
  return end < 0 ? args.map(spelled) : [...args.slice(0, end).map(spelled), ...args.slice(end)];
}

/** A command whose arguments are read through withLlamaSpellings (run, chat; bench has its own). */
export class DeviceCommand extends Command {
  override parseOptions(args: string[]) {
    return super.parseOptions(withLlamaSpellings(args));
  }
}

export function addDeviceOptions(cmd: Command): Command {
  return cmd.addOption(deviceOption()).addOption(gpuLayersOption());
}

/**
 * Refuses what the flags alone show cannot load, before any download or load (the engine refuses
 * the same at load, and a partial -ngl, which needs the model's layer count).
 */
export function checkDeviceFlags(flags: DeviceFlags): void {
  const problem = deviceFlagsProblem(flags.device ?? 'auto', flags.gpuLayers);
  if (problem) throw new UserError(problem, 'ERR_USER_ARGS');
}

/** Layers on a GPU with --device cpu, or none with --device vulkan; undefined when the two agree. */
export function deviceFlagsProblem(device: string, gpuLayers: number | undefined): string | undefined {
  if (gpuLayers === undefined || gpuLayers === GPU_LAYERS_AUTO) return undefined;
  if ((device === 'cpu' || device === 'simulated') && gpuLayers > 0) {
    return `-ngl/--gpu-layers puts layers on a GPU, but --device ${device} runs the model on the CPU (leave -ngl out, or give 0)`;
  }
  if (device === 'vulkan' && gpuLayers === 0) {
    return '-ngl 0 puts no layer on the GPU, but --device vulkan runs the whole model there (leave -ngl out, or give all)';
  }
  return undefined;
}

/** What loadModel takes from the flags: the device (auto unless given) and -ngl when it says something. */
export function deviceLoadOptions(flags: DeviceFlags): Pick<LoadModelOptions, 'device' | 'gpuLayers'> {
  const gpuLayers = flags.gpuLayers !== undefined && flags.gpuLayers !== GPU_LAYERS_AUTO ? flags.gpuLayers : undefined;
  return { device: flags.device ?? 'auto', ...(gpuLayers !== undefined ? { gpuLayers } : {}) };
}
