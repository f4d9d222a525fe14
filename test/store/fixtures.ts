// Test helpers for the store: a tiny GGUF writer (header + deterministic data), and the petrel CLI spawned
// asynchronously (the hub stand-in runs in this process, so a blocking spawnSync would starve it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ensureBuilt, repoRoot } from '../support/cli.js';

type Kv = [string, 'u32' | 'str' | 'u64' | 'f32', number | string];

export interface GgufSpec {
  arch?: string;
  kvs?: Kv[];
  tensors?: Array<{ name: string; shape: number[]; type?: number }>;
  /** Extra data bytes after the tensor data (to make a file of a given size). */
  padTo?: number;
  seed?: number;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Deterministic bytes (so every test run serves the same hashes). */
export function pseudoRandom(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`seed${seed}`).digest();
  for (let i = 0; i < size; i += 32) {
    block.copy(out, i, 0, Math.min(32, size - i));
    if ((i & 0xffff) === 0) block = createHash('sha256').update(block).digest();
    else block = Buffer.from(block.map((v, j) => (v * 31 + j + i) & 0xff));
  }
  return out;
}

/** A qwen35-shaped GGUF header with F32 tensors and (unless huge) their data. */
export function makeGguf(spec: GgufSpec = {}): Buffer {
  const arch = spec.arch ?? 'qwen35';
  const kvs: Kv[] = [
    ['general.architecture', 'str', arch],
    ['general.name', 'str', 'petrel store fixture'],
    [`${arch}.block_count`, 'u32', 4],
    [`${arch}.context_length`, 'u32', 262144],
    [`${arch}.embedding_length`, 'u32', 64],
    [`${arch}.attention.head_count`, 'u32', 4],
    [`${arch}.attention.head_count_kv`, 'u32', 2],
    [`${arch}.attention.key_length`, 'u32', 16],
    [`${arch}.attention.value_length`, 'u32', 16],
    [`${arch}.full_attention_interval`, 'u32', 2],
    [`${arch}.ssm.state_size`, 'u32', 16],
    [`${arch}.ssm.time_step_rank`, 'u32', 4],
    [`${arch}.ssm.group_count`, 'u32', 2],
    [`${arch}.ssm.inner_size`, 'u32', 64],
    [`${arch}.ssm.conv_kernel`, 'u32', 4],
    ...(spec.kvs ?? []),
  ];
  const tensors = spec.tensors ?? [{ name: 'token_embd.weight', shape: [64, 128] }];
  const head: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(kvs.length)];
  for (const [key, type, value] of kvs) {
    head.push(str(key));
    if (type === 'str') head.push(u32(8), str(String(value)));
    else if (type === 'u32') head.push(u32(4), u32(Number(value)));
    else if (type === 'u64') head.push(u32(10), u64(Number(value)));
    else {
      const b = Buffer.alloc(4);
      b.writeFloatLE(Number(value));
      head.push(u32(6), b);
    }
  }
  let offset = 0;
  let dataBytes = 0;
  for (const t of tensors) {
    head.push(str(t.name), u32(t.shape.length), ...t.shape.map((d) => u64(d)), u32(t.type ?? 0), u64(offset));
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    offset += Math.ceil(bytes / 32) * 32;
    dataBytes = offset;
  }
  let header = Buffer.concat(head);
  header = Buffer.concat([header, Buffer.alloc((32 - (header.length % 32)) % 32)]);
  // Tensors claimed far larger than the file (for memory-check tests) get no data.
  const data = dataBytes < 64 << 20 ? pseudoRandom(dataBytes, spec.seed ?? 7) : Buffer.alloc(0);
  const file = Buffer.concat([header, data]);
  return spec.padTo && spec.padTo > file.length ? Buffer.concat([file, pseudoRandom(spec.padTo - file.length, (spec.seed ?? 7) + 1)]) : file;
}

export interface AsyncRun {
  child: ChildProcess;
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout(): string;
  stderr(): string;
}

export function startPetrel(args: string[], env: NodeJS.ProcessEnv): AsyncRun {
  ensureBuilt();
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'petrel.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', HF_TOKEN: '', HF_ENDPOINT: '', HTTPS_PROXY: '', HTTP_PROXY: '', https_proxy: '', http_proxy: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (status, signal) => resolve({ status, signal, stdout: out, stderr: err }));
  });
  return { child, done, stdout: () => out, stderr: () => err };
}

export async function petrel(args: string[], env: NodeJS.ProcessEnv) {
  return startPetrel(args, env).done;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
