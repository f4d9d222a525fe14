import { test } from "vitest";
import { tinyVocab } from '/work/main/src/synth/tokenizer/tinyVocab.js';
import { qwenVocab } from '/work/main/src/synth/tokenizer/qwenVocab.js';
import { encode, decode } from '/work/main/src/synth/tokenizer/bpeEncode.js';
test("x", () => {
let t0 = performance.now();
const v = tinyVocab();
console.log('tiny ms', performance.now() - t0, v.tokens.length, v.merges.length, v.tokens.filter(t=>t.startsWith('[PAD')).length, v.eosId, v.padId);
console.log(v.tokens.slice(256, 300).join(' | '));
for (const s of ['Hello world', 'The petrel flies over the ocean.', '<|im_start|>user\nhi<|im_end|>', '你好，世界', 'café 🚀 123']) {
  const ids = encode(v, s, { parseSpecial: true });
  console.log(JSON.stringify(s), ids, JSON.stringify(decode(v, ids)));
}
t0 = performance.now();
const q = qwenVocab();
console.log('qwen ms', performance.now() - t0, q.tokens.length, q.merges.length, q.eosId, q.padId);
const lt = performance.now();
for (const s of ['Hello world', '<|im_start|>user\nhi<|im_end|>', '\n', 'user', 'assistant']) {
  const ids = encode(q, s, { parseSpecial: true });
  console.log(JSON.stringify(s), ids, JSON.stringify(decode(q, ids)));
}
console.log('enc ms', performance.now() - lt);
});
