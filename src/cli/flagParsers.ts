// Option-value parsers for commander, each checking a range against the flag the user typed, and
// the thread count -t/--threads allows.
import os from 'node:os';
import { InvalidArgumentError } from 'commander';

function number(name: string, check: (v: number) => boolean, rule: string) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || !check(v)) throw new InvalidArgumentError(`${name} must be ${rule}`);
    return v;
  };
}

// Every range is checked here, against the flag the user typed: the engine's own checks name its
// internal parameters (minP, repeatPenalty, seedSampler), which mean nothing on a command line.
export const parseNumber = (name: string) => number(name, () => true, 'a number');
export const parseNonNegative = (name: string) => number(name, (v) => v >= 0, 'a number >= 0');
export const parseCount = (name: string) => number(name, (v) => Number.isSafeInteger(v) && v >= 0, 'a whole number >= 0');
export const parsePositiveCount = (name: string) => number(name, (v) => Number.isSafeInteger(v) && v > 0, 'a whole number > 0');
export const parseFraction = (name: string) => number(name, (v) => v >= 0 && v <= 1, 'a number from 0 to 1');
export const parsePositive = (name: string) => number(name, (v) => v > 0, 'a number > 0');
export const parseSeed = (name: string) =>
  number(name, (v) => Number.isSafeInteger(v) && v >= 0, `a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`);

/** Hardware threads of this machine (what the engine starts by default). */
export function hardwareThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * -t/--threads: a whole number > 0, capped at the machine's hardware threads with a warning
 * (more compute threads than hardware threads only make every step wait for the slowest one,
 * which at hundreds of threads means no step finishes).
 */
export function parseThreads(name = '--threads', available: () => number = hardwareThreads, warn: (line: string) => void = (l) => process.stderr.write(l + '\n')) {
  const whole = parsePositiveCount(name);
  return (value: string): number => {
    const n = whole(value);
    const max = available();
    if (n <= max) return n;
    warn(`petrel: warning: ${name} ${n} is more than the ${max} hardware threads here; using ${max}`);
    return max;
  };
}
