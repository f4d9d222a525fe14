// Broken checkpoints: each corruption gives one line naming the file and the problem, and nothing is
// written under the output name (nor left behind as a temporary file).
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeGguf } from '../../src/quantize/index.js';
import { makeTempDir } from '../synth/helpers.js';
import { writeFixture } from './fixture.js';

const tmp = makeTempDir('petrel-convert-hostile-');
afterAll(() => tmp.cleanup());

let base: string;
beforeAll(() => {
  base = path.join(tmp.dir, 'base');
  writeFixture(base, { moe: false, tied: true, mtp: false, template: 'jinja' }, 3);
});

const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';

/** Rewrites a shard's header (data kept as it is). */
function editHeader(file: string, edit: (h: Record<string, any>) => void): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, buf.subarray(8 + n)]));
}

function firstTensor(h: Record<string, any>, match: string): string {
  const name = Object.keys(h).find((k) => k.includes(match));
  if (!name) throw new Error(`no ${match}`);
  return name;
}

const CASES: [string, (dir: string) => void, RegExp][] = [
  ['truncated file', (d) => truncateSync(path.join(d, SHARD2), 1000), /safetensors: .*(out of range|truncated|reaches past the end)/],
  ['too short for a header', (d) => truncateSync(path.join(d, SHARD1), 5), /truncated: 5 bytes/],
  ['header length past EOF', (d) => {
    const f = path.join(d, SHARD1);
    const buf = readFileSync(f);
    buf.writeBigUInt64LE(BigInt(buf.length), 0);
    writeFileSync(f, buf);
  }, /header length \d+ reaches past the end of the file/],
  ['header not JSON', (d) => {
    const f = path.join(d, SHARD1);
    const buf = readFileSync(f);
    buf.write('#', 8);
    writeFileSync(f, buf);
  }, /header is not valid JSON/],
  ['offsets out of range', (d) => editHeader(path.join(d, SHARD1), (h) => {
    const t = h[firstTensor(h, 'embed_tokens')];
    t.data_offsets = [t.data_offsets[0] + 2 ** 30, t.data_offsets[1] + 2 ** 30];
  }), /data_offsets .* out of range/],
  ['offsets not matching the shape', (d) => editHeader(path.join(d, SHARD1), (h) => {
    h[firstTensor(h, 'embed_tokens')].data_offsets[1] -= 4;
  }), /needs \d+ bytes, data_offsets give/],
  ['unknown dtype', (d) => editHeader(path.join(d, SHARD1), (h) => {
    h[firstTensor(h, 'in_proj_qkv')].dtype = 'Q9_X';
  }), /unknown dtype "Q9_X"/],
  ['unsupported dtype', (d) => editHeader(path.join(d, SHARD1), (h) => {
    const t = h[firstTensor(h, 'in_proj_b')];
    t.dtype = 'I16';
  }), /dtype I16 is not supported/],
  ['missing tensor', (d) => {
    let removed = '';
    editHeader(path.join(d, SHARD1), (h) => {
      removed = firstTensor(h, 'in_proj_z');
      delete h[removed];
    });
    const index = JSON.parse(readFileSync(path.join(d, 'model.safetensors.index.json'), 'utf8'));
    delete index.weight_map[removed];
    writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify(index));
  }, /missing tensor model\.layers\.0\.linear_attn\.in_proj_z\.weight/],
  ['tensor listed in the index but not in its file', (d) => editHeader(path.join(d, SHARD1), (h) => {
    delete h[firstTensor(h, 'in_proj_z')];
  }), /listed in the index is missing/],
  ['wrong shape', (d) => editHeader(path.join(d, SHARD1), (h) => {
    const t = h[firstTensor(h, 'in_proj_b')];
    t.shape = [t.shape[1], t.shape[0]];
  }), /in_proj_b\.weight has shape \[256, 8\], expected \[8, 256\]/],
  ['unknown architecture', (d) => {
    const c = JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8'));
    c.architectures = ['LlamaForCausalLM'];
    writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
  }, /LlamaForCausalLM is not supported/],
  ['missing shard', (d) => rmSync(path.join(d, SHARD2)), /no such file \(named by the safetensors index\)/],
];

describe('hostile checkpoints', () => {
  for (const [what, corrupt, message] of CASES) {
    it(what, async () => {
      const dir = path.join(tmp.dir, what.replace(/\W+/g, '-'));
      cpSync(base, dir, { recursive: true });
      corrupt(dir);
      const out = path.join(tmp.dir, `${path.basename(dir)}.gguf`);
      const err = await quantizeGguf({ input: dir, output: out, type: 'q8_0', threads: 1 }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, 'the conversion should fail').toBeInstanceOf(Error);
      expect(err!.message).toMatch(message);
      expect(err!.message).not.toContain('\n');
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    });
  }
});
