// Pure parts of the store: references, alias tags, file selection by quant, segment bookkeeping, GGUF header.
import { describe, expect, it } from 'vitest';
import { NeedMoreBytes, parseGgufHeader } from '../../src/store/ggufHeader.js';
import { estimateMemory } from '../../src/store/fit.js';
import { blobLinkTarget } from '../../src/store/paths.js';
import { parseModelRef } from '../../src/store/reference.js';
import { SegmentTable } from '../../src/store/segments.js';
import { quantOf, selectQuantFiles } from '../../src/store/selectFiles.js';
import { UserError } from '../../src/errors.js';
import { isRetryable, networkError } from '../../src/store/http.js';
import { makeGguf } from './fixtures.js';

describe('references', () => {
  it('parses aliases, tags, hf: refs, hub URLs, plain URLs and paths', () => {
    expect(parseModelRef('qwen3.5:9b')).toMatchObject({ kind: 'hf', repo: 'unsloth/Qwen3.5-9B-GGUF', quant: 'Q4_K_M', alias: 'qwen3.5:9b' });
    expect(parseModelRef('qwen3.5:9b-q8_0')).toMatchObject({ kind: 'hf', quant: 'Q8_0', alias: 'qwen3.5:9b' });
    expect(parseModelRef('qwen3.5:35b-a3b')).toMatchObject({ repo: 'unsloth/Qwen3.5-35B-A3B-GGUF', quant: 'Q4_K_M' });
    expect(parseModelRef('qwen3.5:35b-a3b-ud-q4_k_xl')).toMatchObject({ repo: 'unsloth/Qwen3.5-35B-A3B-GGUF', quant: 'UD-Q4_K_XL' });
    expect(() => parseModelRef('qwen3.5:1b')).toThrow(/unknown model "qwen3.5:1b"; known: qwen3.5:0.8b/);
    expect(parseModelRef('hf:owner/repo:q5_k_m')).toEqual({ kind: 'hf', repo: 'owner/repo', revision: 'main', quant: 'Q5_K_M' });
    expect(parseModelRef('hf:owner/repo/sub/file.gguf')).toEqual({ kind: 'hf-file', repo: 'owner/repo', revision: 'main', file: 'sub/file.gguf' });
    expect(parseModelRef('https://huggingface.co/owner/repo/resolve/main/a.gguf')).toEqual({ kind: 'hf-file', repo: 'owner/repo', revision: 'main', file: 'a.gguf' });
    expect(parseModelRef('https://huggingface.co/owner/repo')).toEqual({ kind: 'hf', repo: 'owner/repo', revision: 'main' });
    expect(parseModelRef('https://example.com/m.gguf')).toEqual({ kind: 'url', url: 'https://example.com/m.gguf' });
    expect(parseModelRef('./m.gguf')).toMatchObject({ kind: 'path' });
    expect(() => parseModelRef('hf:../x')).toThrow(/bad Hugging Face reference/);
    expect(() => parseModelRef('ftp://example.com/m.gguf')).toThrow(/^unsupported URL scheme "ftp:" in ftp:\/\/example.com\/m.gguf/);
    expect(() => parseModelRef('s3://bucket/m.gguf')).toThrow(/unsupported URL scheme "s3:"/);
    expect(parseModelRef('file:///models/m%20x.gguf')).toEqual({ kind: 'path', path: '/models/m x.gguf' });
    expect(() => parseModelRef('file://host/m.gguf')).toThrow(/not a valid file:\/\/ URL/);
  });
});

describe('file selection', () => {
  const files = ['a-UD-Q4_K_M.gguf', 'a-Q4_K_M.gguf', 'a-Q8_0.gguf', 'mmproj-F16.gguf', 'BF16/a-BF16-00001-of-00002.gguf', 'BF16/a-BF16-00002-of-00002.gguf'].map((path) => ({ path, size: 1 }));
  it('prefers the plain quant over UD variants, takes split sets whole, lists what exists', () => {
    expect(selectQuantFiles(files, undefined, 'Q4_K_M', 'r').map((f) => f.path)).toEqual(['a-Q4_K_M.gguf']);
    expect(selectQuantFiles(files, 'bf16', 'Q4_K_M', 'r').map((f) => f.path)).toEqual(['BF16/a-BF16-00001-of-00002.gguf', 'BF16/a-BF16-00002-of-00002.gguf']);
    expect(() => selectQuantFiles(files, 'IQ2_M', 'Q4_K_M', 'r')).toThrow(/no IQ2_M file; available: BF16, Q4_K_M, Q8_0, UD-Q4_K_M/);
    expect(() => selectQuantFiles(files.slice(0, 5), 'BF16', 'Q4_K_M', 'r')).toThrow(/part .*00002-of-00002.gguf is missing/);
    expect(quantOf('Qwen3.5-9B-UD-Q4_K_XL.gguf')).toBe('UD-Q4_K_XL');
    expect(blobLinkTarget('BF16/x.gguf', 'abc')).toBe('../../../blobs/abc');
  });
});

describe('segments', () => {
  it('plans ranges, steals half of the largest one, and tracks the contiguous prefix', () => {
    const t = new SegmentTable(SegmentTable.plan(100 << 20, 4, 16 << 20));
    expect(t.segments).toHaveLength(4);
    const [a, b, c, d] = [t.claim(1 << 20)!, t.claim(1 << 20)!, t.claim(1 << 20)!, t.claim(1 << 20)!];
    a.pos = a.end;
    a.assigned = false;
    const stolen = t.claim(1 << 20)!;
    // All four had the same left; the first (b) loses the second half of its range.
    expect(b.end).toBe(stolen.start);
    expect(stolen.end).toBe(c.start);
    expect(t.contiguousEnd()).toBe(b.start);
    b.pos = b.end;
    expect(t.contiguousEnd()).toBe(stolen.start);
    stolen.pos = stolen.end;
    expect(t.contiguousEnd()).toBe(c.start);
    expect(d.end).toBe(100 << 20);
  });
});

describe('GGUF header', () => {
  it('parses metadata and tensor bytes, asks for more bytes when truncated, estimates memory', () => {
    const buf = makeGguf({ tensors: [{ name: 'a', shape: [64, 128] }, { name: 'b', shape: [1 << 20, 1 << 20] }] });
    const h = parseGgufHeader(buf);
    expect(h.metadata.get('general.architecture')).toBe('qwen35');
    expect(h.tensorBytes).toBe(64 * 128 * 4 + 2 ** 40 * 4);
    expect(() => parseGgufHeader(buf.subarray(0, 100))).toThrow(NeedMoreBytes);
    expect(() => parseGgufHeader(Buffer.from('GGML0000'))).toThrow(/bad magic/);
    const est = estimateMemory(parseGgufHeader(makeGguf()), 1, 4096, true);
    // 4 layers, every 2nd attention: 2 layers x 4096 x 2 kv heads x (16+16) x 2 bytes
    expect(est.kvCache).toBe(2 * 4096 * 2 * 32 * 2);
    expect(est.recurrentState).toBeGreaterThan(0);
  });
});

describe('network failures', () => {
  it('a host that does not exist or refuses the connection is not retried; a failed lookup for now is', () => {
    expect(isRetryable(Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('getaddrinfo EAI_AGAIN huggingface.co'), { code: 'EAI_AGAIN' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(true);
  });

  it('become one line naming the host; other errors pass through unchanged', () => {
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND', hostname: 'huggingface.co' });
    const mapped = networkError(dns, 'https://huggingface.co/api/models/a/b');
    expect(mapped).toBeInstanceOf(UserError);
    expect((mapped as UserError).message).toBe('cannot reach huggingface.co: no such host (check the network connection, or HF_ENDPOINT) (ENOTFOUND)');
    const reset = networkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'https://cdn.example/x?sig=secret');
    expect((reset as UserError).message).toBe('cannot reach cdn.example: the connection was reset (ECONNRESET)');
    const tls = networkError(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'https://h.example/');
    expect(tls).not.toBeInstanceOf(UserError); // an unknown code stays what it was
    const cert = networkError(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), 'https://h.example/');
    expect((cert as UserError).message).toBe('cannot reach h.example: TLS failed: certificate has expired (CERT_HAS_EXPIRED)');
    const bug = new TypeError('x is undefined');
    expect(networkError(bug, 'https://h.example/')).toBe(bug);
  });
});
