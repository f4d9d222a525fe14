// .safetensors headers, read as hostile input: an 8-byte little-endian header length, a JSON object
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the data. Every length,
// offset and shape is checked against the file before the plan uses it; a bad file gives one
// UserError line naming the file and the tensor. The data itself is never read here.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { SafetensorsDtype } from '../native/index.js';

const DTYPE_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Every dtype the format defines, to tell "unsupported" from "not a dtype". */
const KNOWN_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'I16',
  'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64', 'C64']);
/** safetensors refuses headers above 100 MB; so does this. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsTensor {
  name: string;
  /** Index of the file in the checkpoint's file list. */
  file: number;
  dtype: SafetensorsDtype;
  /** PyTorch order (outermost first). */
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  bytes: number;
}

export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPE_SIZE[dtype];
}

/** Reads and checks the header of one file. */
export function readSafetensorsHeader(path: string, fileIndex: number): SafetensorsTensor[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const fail = (what: string): never => {
      throw new UserError(`${path}: ${what}`, 'ERR_CORRUPT_FILE');
    };
    if (size < 8) fail(`truncated: ${size} bytes, a safetensors file starts with an 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(size - 8)) fail(`header length ${headerLen} reaches past the end of the file (${size} bytes)`);
    if (headerLen > BigInt(MAX_HEADER)) fail(`header length ${headerLen} is over the 100 MB limit`);
    const n = Number(headerLen);
    const buf = Buffer.alloc(n);
    if (readSync(fd, buf, 0, n, 8) !== n) fail('truncated header');
    let header: unknown;
    try {
      header = JSON.parse(buf.toString('utf8'));
    } catch {
      fail('the header is not valid JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
    const dataStart = 8 + n;
    const dataSize = size - dataStart;
    const out: SafetensorsTensor[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const bad = (what: string): never => fail(`tensor ${JSON.stringify(name)}: ${what}`);
      if (typeof raw !== 'object' || raw === null) bad('not an object');
      const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
      if (typeof dtype !== 'string') bad('no dtype');
      const dt = dtype as string;
      if (!KNOWN_DTYPES.has(dt)) bad(`unknown dtype ${JSON.stringify(dt).slice(0, 40)}`);
      if (!(dt in DTYPE_SIZE)) bad(`dtype ${dt} is not supported (F32, F16 or BF16)`);
      if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        bad('bad shape');
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        bad('bad data_offsets');
      }
      const [begin, end] = offsets as [number, number];
      if (begin > end || end > dataSize) bad(`data_offsets [${begin}, ${end}] out of range (${dataSize} data bytes)`);
      const elements = (shape as number[]).reduce((a, b) => a * b, 1);
      const bytes = elements * DTYPE_SIZE[dt as SafetensorsDtype];
      if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
        bad(`shape [${(shape as number[]).join(', ')}] needs ${bytes} bytes, data_offsets give ${end - begin}`);
      }
      out.push({ name, file: fileIndex, dtype: dt as SafetensorsDtype, shape: shape as number[], offset: dataStart + begin, bytes });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
