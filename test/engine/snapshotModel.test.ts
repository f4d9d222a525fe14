// Snapshots carry the model's shape fingerprint and a digest of its weights (header, tensor table,
// file sizes, bytes sampled from every tensor): a snapshot restores only into the model it was
// taken with, even when another model has exactly the same shapes (another seed of the same
// synthetic preset here; another quantization or fine-tune in practice).
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, SnapshotMismatchError, type Model } from '../../src/engine/index.js';
import { maxAbsDiff, presetModel, randomTokens, tempDir } from './helpers/models.js';

const tmp = tempDir();
let fileA: string;
let a: Model;
let b: Model;
let moe: Model;

beforeAll(async () => {
  fileA = await presetModel('tiny', { seed: 0 });
  a = await loadModel(fileA, { threads: 1 });
  b = await loadModel(await presetModel('tiny', { seed: 7 }), { threads: 1 });
  moe = await loadModel(await presetModel('tiny-moe'), { threads: 1 });
});
afterAll(() => {
  for (const m of [a, b, moe]) m.dispose();
  tmp.cleanup();
});

describe('snapshot model check', () => {
  it('a snapshot of model A does not restore into B of the same shapes and other weights', async () => {
    expect(b.info.fingerprint).toBe(a.info.fingerprint); // the shapes alone cannot tell them apart
    const sa = a.createSession();
    await sa.prefill(randomTokens(40, a.info.nVocab, 1));
    const snap = sa.save();
    const file = path.join(tmp.dir, 'a.snapshot');
    await sa.saveToFile(file);

    const sb = b.createSession();
    await sb.prefill(randomTokens(10, b.info.nVocab, 2));
    const err = (() => {
      try {
        sb.restore(snap);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SnapshotMismatchError);
    expect(err).toMatchObject({ code: 'ERR_SNAPSHOT_MODEL_MISMATCH' });
    expect((err as Error).message).toMatch(/^snapshot: it was taken with a different model of the same shapes \(other weights: digest [0-9a-f]{16}, this model [0-9a-f]{16}/);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    await expect(sb.loadFromFile(file)).rejects.toThrow(SnapshotMismatchError);
    await expect(sb.loadFromFile(file)).rejects.toThrow(/a\.snapshot: snapshot: it was taken with a different model of the same shapes/);
    expect(sb.position).toBe(10); // unchanged

    // Other shapes are named as such.
    expect(() => moe.createSession().restore(snap)).toThrow(/different model \(other shapes: fingerprint/);
    expect(() => moe.createSession().restore(snap)).toThrow(SnapshotMismatchError);
    sa.dispose();
    sb.dispose();
  });

  it('the same model restores: the same file loaded twice, or a copy of it under another name', async () => {
    const copy = path.join(tmp.dir, 'copy-of-a.gguf');
    copyFileSync(fileA, copy);
    const a2 = await loadModel(copy, { threads: 1 });
    const tokens = randomTokens(30, a.info.nVocab, 3);
    const more = randomTokens(12, a.info.nVocab, 4);
    const sa = a.createSession();
    await sa.prefill(tokens);
    const snap = sa.save();
    const expected = (await sa.evaluate(more, { logits: 'all' }))!;
    for (const m of [a, a2]) {
      const s = m.createSession();
      s.restore(snap);
      expect(s.position).toBe(30);
      expect(maxAbsDiff((await s.evaluate(more, { logits: 'all' }))!, expected)).toBe(0);
      s.dispose();
    }
    sa.dispose();
    a2.dispose();
  });

  it('a version 1 snapshot (no weights digest) is refused with a clear error', async () => {
    const s = a.createSession();
    await s.prefill([1, 2, 3]);
    const old = s.save();
    new DataView(old.buffer, old.byteOffset).setUint32(8, 1, true);
    expect(() => s.restore(old)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
    expect(() => s.restore(old)).toThrow(/version 1 is not supported \(petrel reads version 3; take the snapshot again\)/);
    s.dispose();
  });
});
