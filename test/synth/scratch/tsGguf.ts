// Scratch-only: a minimal F32 GGUF writer in TS to try llama.cpp loading before the native writer exists.
import { openSync, writeSync, closeSync } from 'node:fs';
import type { GgufWriteSpec, GgufKv } from '../../../src/engine/native.js';
const T: Record<string, number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };
class W { parts: Buffer[] = []; len = 0;
  push(b: Buffer) { this.parts.push(b); this.len += b.length; }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v: number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  scalar(t: string, v: any) { if (t === 'u32') this.u32(v); else if (t === 'i32') this.i32(v); else if (t === 'f32') this.f32(v); else if (t === 'str') this.str(v); else if (t === 'bool') this.push(Buffer.from([v ? 1 : 0])); else throw new Error(t); }
}
function rng(seed: number) { let s = seed >>> 0 || 1; return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; }; }
export function writeF32Gguf(path: string, spec: GgufWriteSpec) {
  const w = new W();
  w.u32(0x46554747); w.u32(3); w.u64(spec.tensors.length); w.u64(spec.metadata.length);
  for (const kv of spec.metadata as GgufKv[]) {
    w.str(kv.key); w.u32(T[kv.type]!);
    if (kv.type === 'arr') { w.u32(T[kv.itemType!]!); const a = kv.value as any[]; w.u64(a.length); for (const x of a) w.scalar(kv.itemType!, x); }
    else w.scalar(kv.type, kv.value);
  }
  let off = 0; const offs: number[] = [];
  for (const t of spec.tensors) {
    if (t.type !== 0) throw new Error('f32 only');
    w.str(t.name); w.u32(t.shape.length); for (const d of t.shape) w.u64(d); w.u32(0); w.u64(off); offs.push(off);
    const n = t.shape.reduce((a, b) => a * b, 1); off += Math.ceil(n * 4 / 32) * 32;
  }
  const pad = (32 - (w.len % 32)) % 32; w.push(Buffer.alloc(pad));
  const fd = openSync(path, 'w'); for (const p of w.parts) writeSync(fd, p);
  for (const t of spec.tensors) {
    const src = t.source as any; const n = t.shape.reduce((a, b) => a * b, 1); const r = rng(src.seed);
    const f = new Float32Array(Math.ceil(n * 4 / 32) * 8);
    for (let i = 0; i < n; i++) { const g = Math.sqrt(-2 * Math.log(r())) * Math.cos(2 * Math.PI * r()); let v = src.mean + src.std * g; if (src.transform === 'neg_exp') v = -Math.exp(v); f[i] = v; }
    writeSync(fd, Buffer.from(f.buffer));
  }
  closeSync(fd);
}
