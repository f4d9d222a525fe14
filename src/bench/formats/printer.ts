// A printer turns results into text as they come, like llama-bench's printers: a header, one
// chunk per test (one row per engine), a footer. The command writes each chunk as it is ready.
import type { TestResult } from '../runner.js';

export interface BenchPrinter {
  header(): string;
  test(results: TestResult[]): string;
  footer(): string;
}

/** A field value as llama-bench's get_values() writes it (std::to_string): floats with 6 decimals, bools as 0/1. */
export function plainValue(value: string | number | boolean | null, type: string): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') return type === 'float' ? value.toFixed(6) : String(Math.round(value));
  return value;
}

/** A sample of samples_ts as C++ streams print a double (6 significant digits, no trailing zeros). */
export function shortNumber(x: number): string {
  return String(Number(x.toPrecision(6)));
}
