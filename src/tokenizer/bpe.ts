// Byte-level BPE over token ids: a pre-token's UTF-8 bytes start as the 256 byte tokens, then the
// lowest-rank merge is applied, leftmost first, until none applies (llama.cpp's
// llm_tokenizer_bpe_session and HF's BPE both do exactly this). Merges are keyed by the pair of
// ids, so the hot loop compares numbers, never strings; a binary heap keeps long pieces (a CJK
// sentence is one pre-token) at O(n log n).
import { byteChar } from './byteUnicode.js';

/** Heap priorities pack (rank, position): rank * 2^32 + position stays an exact double. */
const POS_SPAN = 2 ** 32;

export class BpeMerger {
  /** Id of each byte's token, or -1 when the vocabulary lacks it. */
  readonly byteIds = new Int32Array(256).fill(-1);
  readonly #nVocab: number;
  /** left * nVocab + right -> rank */
  readonly #ranks = new Map<number, number>();
  /** rank -> id of the merged token */
  readonly #results: Int32Array;
  /** Merges whose parts or result are not tokens (never applicable in id space). */
  readonly skippedMerges: number;

  constructor(tokenToId: Map<string, number>, nVocab: number, merges: readonly string[]) {
    this.#nVocab = nVocab;
    for (let b = 0; b < 256; b++) this.byteIds[b] = tokenToId.get(byteChar(b)) ?? -1;
    this.#results = new Int32Array(merges.length).fill(-1);
    let skipped = 0;
    merges.forEach((merge, rank) => {
      // llama.cpp splits at the first space after the first character (a part is never empty).
      const cut = merge.indexOf(' ', 1);
      const left = tokenToId.get(merge.slice(0, cut));
      const right = tokenToId.get(merge.slice(cut + 1));
      const result = tokenToId.get(merge.slice(0, cut) + merge.slice(cut + 1));
      if (cut < 0 || left === undefined || right === undefined || result === undefined) {
        skipped++;
        return;
      }
      const key = left * nVocab + right;
      // A repeated merge keeps its first (best) rank, as llama.cpp's bpe_ranks.emplace does.
      if (!this.#ranks.has(key)) this.#ranks.set(key, rank);
      this.#results[rank] = result;
    });
    this.skippedMerges = skipped;
  }

  /** Token ids of one pre-token given as UTF-8 bytes. */
  encode(bytes: Uint8Array): number[] {
    const n = bytes.length;
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = this.byteIds[bytes[i]!]!;
    if (n === 1) return ids[0]! >= 0 ? [ids[0]!] : [];
    if (n === 2 && ids[0]! >= 0 && ids[1]! >= 0) {
      const rank = this.#ranks.get(ids[0]! * this.#nVocab + ids[1]!);
      return rank === undefined ? [ids[0]!, ids[1]!] : [this.#results[rank]!];
    }
    // A byte missing from the vocabulary is dropped, as llama.cpp drops unknown symbols.
    return this.#mergeAll(ids).filter((id) => id >= 0);
  }

  #mergeAll(ids: Int32Array): number[] {
    const n = ids.length;
    const nVocab = this.#nVocab;
    const ranks = this.#ranks;
    // Doubly linked list of live symbols; a merged-away symbol gets prev = -2.
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap: number[] = [];
    const push = (pos: number) => {
      const right = next[pos]!;
      if (right < 0 || ids[pos]! < 0 || ids[right]! < 0) return;
      const rank = ranks.get(ids[pos]! * nVocab + ids[right]!);
      if (rank !== undefined) heapPush(heap, rank * POS_SPAN + pos);
    };
    for (let i = 0; i + 1 < n; i++) push(i);

    while (heap.length > 0) {
      const top = heapPop(heap);
      const rank = Math.floor(top / POS_SPAN);
      const pos = top - rank * POS_SPAN;
      const right = next[pos]!;
      // Stale entry: the symbol was merged away, or its pair changed since it was queued.
      if (prev[pos] === -2 || right < 0 || ids[right]! < 0 || ranks.get(ids[pos]! * nVocab + ids[right]!) !== rank) continue;
      ids[pos] = this.#results[rank]!;
      const after = next[right]!;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      prev[right] = -2;
      if (prev[pos]! >= 0) push(prev[pos]!);
      push(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(ids[i]!);
    return out;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  const n = heap.length;
  if (n > 0) {
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]! < heap[child]!) child++;
      if (heap[child]! >= last) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
  return top;
}
