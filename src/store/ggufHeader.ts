// A small, bounds-checked GGUF header reader in TypeScript for bytes fetched over HTTP (the native reader
// needs a whole local file). It reads the metadata and the tensor infos; given too few bytes it throws
// NeedMoreBytes so the caller can fetch further.
import { ggmlTensorBytes } from '../gguf/ggmlTypes.js';

export class NeedMoreBytes extends Error {
  constructor(readonly needed: number) {
    super(`GGUF header needs more than ${needed} bytes`);
  }
}

export type HeaderValue = number | bigint | boolean | string | HeaderValue[];

export interface GgufHeader {
  version: number;
  metadata: Map<string, HeaderValue>;
  tensors: Array<{ name: string; shape: number[]; type: number; bytes: number | undefined }>;
  /** Sum of tensor bytes; undefined when some tensor type is unknown here. */
  tensorBytes: number | undefined;
}

// Hostile-input limits: no real header comes close, and they keep a bad file from allocating gigabytes.
const MAX_COUNT = 1 << 24;
const MAX_STRING = 1 << 26;
const MAX_DIMS = 8;

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMoreBytes(this.pos + n);
  }
  u8(): number { this.need(1); return this.buf.readUInt8(this.pos++); }
  u16(): number { this.need(2); const v = this.buf.readUInt16LE(this.pos); this.pos += 2; return v; }
  i16(): number { this.need(2); const v = this.buf.readInt16LE(this.pos); this.pos += 2; return v; }
  u32(): number { this.need(4); const v = this.buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  i32(): number { this.need(4); const v = this.buf.readInt32LE(this.pos); this.pos += 4; return v; }
  u64(): bigint { this.need(8); const v = this.buf.readBigUInt64LE(this.pos); this.pos += 8; return v; }
  i64(): bigint { this.need(8); const v = this.buf.readBigInt64LE(this.pos); this.pos += 8; return v; }
  f32(): number { this.need(4); const v = this.buf.readFloatLE(this.pos); this.pos += 4; return v; }
  f64(): number { this.need(8); const v = this.buf.readDoubleLE(this.pos); this.pos += 8; return v; }
  count(what: string, max = MAX_COUNT): number {
    const n = this.u64();
    if (n > BigInt(max)) throw new Error(`GGUF ${what} ${n} is too large`);
    return Number(n);
  }
  string(): string {
    const n = this.count('string length', MAX_STRING);
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  skip(n: number): void { this.need(n); this.pos += n; }
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

function readValue(r: Reader, type: number, depth = 0): HeaderValue {
  switch (type) {
    case 0: return r.u8();
    case 1: { const v = r.u8(); return v > 127 ? v - 256 : v; }
    case 2: return r.u16();
    case 3: return r.i16();
    case 4: return r.u32();
    case 5: return r.i32();
    case 6: return r.f32();
    case 7: return r.u8() !== 0;
    case 8: return r.string();
    case 9: {
      if (depth > 2) throw new Error('GGUF arrays nested too deep');
      const itemType = r.u32();
      const n = r.count('array length');
      // Big scalar arrays (token scores, types) are skipped: only their length matters here.
      const scalar = SCALAR_SIZE[itemType];
      if (scalar !== undefined && n > 64) {
        r.skip(n * scalar);
        return [n];
      }
      const out: HeaderValue[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, itemType, depth + 1));
      return out;
    }
    case 10: return asNumber(r.u64());
    case 11: return asNumber(r.i64());
    case 12: return r.f64();
    default: throw new Error(`GGUF value type ${type} is unknown`);
  }
}

function asNumber(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function parseGgufHeader(buf: Buffer): GgufHeader {
  const r = new Reader(buf);
  if (r.u32() !== 0x46554747) throw new Error('not a GGUF file (bad magic)');
  const version = r.u32();
  if (version < 2 || version > 3) throw new Error(`GGUF version ${version} is not supported`);
  const nTensors = r.count('tensor count');
  const nKv = r.count('metadata count');
  const metadata = new Map<string, HeaderValue>();
  for (let i = 0; i < nKv; i++) {
    const key = r.string();
    metadata.set(key, readValue(r, r.u32()));
  }
  const tensors: GgufHeader['tensors'] = [];
  let tensorBytes: number | undefined = 0;
  for (let i = 0; i < nTensors; i++) {
    const name = r.string();
    const nDims = r.u32();
    if (nDims > MAX_DIMS) throw new Error(`GGUF tensor ${name} has ${nDims} dimensions`);
    const shape: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = Number(r.u64());
      shape.push(n);
      elements *= n;
    }
    const type = r.u32();
    r.u64(); // offset: not needed for sizes
    const bytes = Number.isSafeInteger(elements) ? ggmlTensorBytes(type, elements) : undefined;
    tensors.push({ name, shape, type, bytes });
    tensorBytes = bytes === undefined || tensorBytes === undefined ? undefined : tensorBytes + bytes;
  }
  return { version, metadata, tensors, tensorBytes };
}
