// Will it fit? Disk: the bytes still to download plus a margin must be free where the cache lives.
// Memory: weights + recurrent (Gated DeltaNet) state + attention KV cache at the requested context +
// a compute allowance, against this machine's RAM. Estimates are from the GGUF header, before any download.
import { statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import path from 'node:path';
import type { HeaderValue, GgufHeader } from './ggufHeader.js';

export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  recurrentState: number;
  compute: number;
  total: number;
  context: number;
  architecture: string;
}

const HYBRID = new Set(['qwen35', 'qwen35moe', 'qwen3next']);

function num(v: HeaderValue | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

/** `fileBytes` is the size of all parts (used when the header cannot give exact tensor bytes, or for split files). */
export function estimateMemory(header: GgufHeader, fileBytes: number, context: number, singleFile: boolean): MemoryEstimate {
  const m = header.metadata;
  const arch = typeof m.get('general.architecture') === 'string' ? (m.get('general.architecture') as string) : 'unknown';
  const k = (key: string) => num(m.get(`${arch}.${key}`));
  const nLayer = Math.max(0, (k('block_count') ?? 0) - (k('nextn_predict_layers') ?? 0));
  const trained = k('context_length');
  const ctx = trained ? Math.min(context, trained) : context;
  const nHead = k('attention.head_count') ?? 0;
  const nHeadKv = num(m.get(`${arch}.attention.head_count_kv`)) ?? nHead;
  const embd = k('embedding_length') ?? 0;
  const keyLen = k('attention.key_length') ?? (nHead ? embd / nHead : 0);
  const valueLen = k('attention.value_length') ?? keyLen;

  let attnLayers = nLayer;
  let recurrentState = 0;
  if (HYBRID.has(arch)) {
    const interval = k('full_attention_interval') ?? 4;
    attnLayers = Math.floor(nLayer / interval);
    const dState = k('ssm.state_size') ?? 128;
    const vHeads = k('ssm.time_step_rank') ?? 0;
    const kHeads = k('ssm.group_count') ?? 0;
    const inner = k('ssm.inner_size') ?? vHeads * dState;
    const conv = k('ssm.conv_kernel') ?? 4;
    const perLayer = vHeads * dState * (inner / Math.max(1, vHeads)) * 4 + (conv - 1) * (inner + 2 * kHeads * dState) * 4;
    recurrentState = (nLayer - attnLayers) * perLayer;
  }
  // f16 K and V for every attention layer at the full context.
  const kvCache = attnLayers * ctx * nHeadKv * (keyLen + valueLen) * 2;
  const weights = singleFile && header.tensorBytes !== undefined ? header.tensorBytes : fileBytes;
  const compute = 256 * 2 ** 20 + Math.round(0.05 * weights);
  return { weights, kvCache, recurrentState, compute, total: weights + kvCache + recurrentState + compute, context: ctx, architecture: arch };
}

export function machineMemory(): number {
  return totalmem();
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (or its nearest existing parent). */
export async function freeDiskBytes(dir: string): Promise<number> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const s = await statfs(at);
      return s.bavail * s.bsize;
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as { code?: string }).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}

/** Keep 1 GiB or 2 % of the download free, whichever is larger: logs and other writers need room too. */
export function diskMargin(bytes: number): number {
  return Math.max(2 ** 30, Math.round(bytes * 0.02));
}
