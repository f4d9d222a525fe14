// Random token ids, as llama-bench feeds (its timings exclude tokenization and sampling). They come
// from a seeded generator keyed by (seed, test, repetition), so every engine in a --vs run sees the
// very same ids (same MoE routing, same work) and runs repeat exactly.

/** mulberry32: a small, fast 32-bit generator; quality is ample for picking token ids. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** `count` token ids in [0, nVocab), the same for the same (seed, stream) everywhere. */
export function randomTokens(nVocab: number, count: number, seed: number, stream: number): Int32Array {
  if (!Number.isInteger(nVocab) || nVocab < 1) throw new RangeError(`randomTokens: nVocab must be >= 1 (got ${nVocab})`);
  const next = mulberry32((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = next() % nVocab;
  return out;
}
