// llama-bench's record layout, read from llama.cpp's own source: node-llama-cpp ships the llama.cpp
// tree it was built from as a git bundle (node_modules/node-llama-cpp/llama/gitRelease.bundle), and
// tools/llama-bench/llama-bench.cpp names the fields (test::get_fields) and their types
// (test::get_field_type). Tests compare petrel's csv/json output with this, not with petrel's own
// field list. git is needed (the bundle is a git pack); the extracted file is cached in the temp
// directory under the bundle's commit, so only the first test process of a commit pays for it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export type LlamaBenchType = 'string' | 'int' | 'float' | 'bool';

export interface LlamaBenchLayout {
  /** The commit of the bundled llama.cpp tree. */
  commit: string;
  /** Field names in llama-bench's csv/json order. */
  fields: string[];
  /** Each field's type as get_field_type gives it. */
  types: Map<string, LlamaBenchType>;
}

export function llamaCppBundle(): string {
  const entry = createRequire(import.meta.url).resolve('node-llama-cpp'); // <pkg>/dist/index.js
  const file = path.join(path.dirname(entry), '..', 'llama', 'gitRelease.bundle');
  if (!existsSync(file)) throw new Error(`${file} is missing; it comes with the dev dependency node-llama-cpp: run npm ci`);
  return file;
}

/** tools/llama-bench/llama-bench.cpp of the bundled llama.cpp, and its commit. */
export function llamaBenchSource(): { commit: string; source: string } {
  const bundle = llamaCppBundle();
  const heads = execFileSync('git', ['bundle', 'list-heads', bundle], { encoding: 'utf8' });
  const commit = /^([0-9a-f]{40}) /m.exec(heads)?.[1];
  if (!commit) throw new Error(`git bundle list-heads ${bundle}: no commit in ${JSON.stringify(heads)}`);
  const cached = path.join(os.tmpdir(), `petrel-llama-bench-${commit}.cpp`);
  if (existsSync(cached)) return { commit, source: readFileSync(cached, 'utf8') };

  const repo = mkdtempSync(path.join(os.tmpdir(), 'petrel-llama-bundle-'));
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
    git('init', '-q', '--bare');
    git('fetch', '-q', bundle, commit);
    const source = git('show', `${commit}:tools/llama-bench/llama-bench.cpp`);
    const tmp = `${cached}.${process.pid}`;
    writeFileSync(tmp, source);
    renameSync(tmp, cached);
    return { commit, source };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

/** The brace-balanced body of the first function whose signature matches `signature`. */
function functionBody(source: string, signature: RegExp, what: string): string {
  const m = signature.exec(source);
  if (!m) throw new Error(`llama-bench.cpp: ${what} not found`);
  let depth = 0;
  const start = source.indexOf('{', m.index + m[0].length - 1);
  for (let i = start; i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) return source.slice(start + 1, i);
  }
  throw new Error(`llama-bench.cpp: ${what} has no closing brace`);
}

export function parseLlamaBench(source: string, commit = ''): LlamaBenchLayout {
  const fieldsBody = functionBody(source, /static const std::vector<std::string>\s*&\s*get_fields\(\)\s*\{/, 'test::get_fields()');
  const fields = [...fieldsBody.matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1]!);
  if (fields.length === 0) throw new Error('llama-bench.cpp: get_fields() lists no fields');

  // get_field_type: `if (field == "a" || field == "b") { return INT; }` ..., then `return STRING;`.
  const typeBody = functionBody(source, /static field_type get_field_type\(const std::string\s*&\s*field\)\s*\{/, 'test::get_field_type()');
  const named = new Map<string, LlamaBenchType>();
  for (const m of typeBody.matchAll(/if\s*\(([^{]*)\)\s*\{\s*return\s+(STRING|BOOL|INT|FLOAT)\s*;\s*\}/g)) {
    const type = m[2]!.toLowerCase() as LlamaBenchType;
    for (const f of m[1]!.matchAll(/field\s*==\s*"([a-z0-9_]+)"/g)) if (!named.has(f[1]!)) named.set(f[1]!, type);
  }
  const fallback = /\}\s*return\s+(STRING|BOOL|INT|FLOAT)\s*;\s*$/.exec(typeBody.trim());
  if (!fallback || named.size === 0) throw new Error('llama-bench.cpp: get_field_type() is not in the expected form');
  const types = new Map(fields.map((f) => [f, named.get(f) ?? (fallback[1]!.toLowerCase() as LlamaBenchType)]));
  return { commit, fields, types };
}

let layout: LlamaBenchLayout | undefined;

export function llamaBenchLayout(): LlamaBenchLayout {
  if (!layout) {
    const { commit, source } = llamaBenchSource();
    layout = parseLlamaBench(source, commit);
  }
  return layout;
}

/**
 * llama-bench's fields that describe GPUs, device placement and tuning knobs petrel does not have;
 * petrel leaves them out of its records. Every other llama-bench field must be in petrel's output,
 * in llama-bench's order, so a field llama-bench gains fails the tests until it is placed here or
 * emitted.
 */
export const FIELDS_PETREL_OMITS = new Set([
  'cpu_mask', 'cpu_strict', 'poll', 'n_cpu_moe', 'split_mode', 'main_gpu', 'no_kv_offload', 'flash_attn',
  'devices', 'tensor_split', 'tensor_buft_overrides', 'lazy_mode', 'embeddings', 'no_op_offload', 'no_host',
  'fit_target', 'fit_min_ctx',
]);

/** The llama-bench fields petrel's records must start with, in order. */
export function expectedBenchFields(): string[] {
  return llamaBenchLayout().fields.filter((f) => !FIELDS_PETREL_OMITS.has(f));
}
