import { test } from 'vitest';
import { llamaQuantize, LlamaFtype } from '../../support/llamaQuantize.js';
import koffi from 'koffi';
test('q', () => {
  const t0 = performance.now();
  llamaQuantize('/tmp/scratch-tiny.gguf', '/tmp/scratch-tiny-q8.gguf', LlamaFtype.MOSTLY_Q8_0);
  llamaQuantize('/tmp/scratch-tiny.gguf', '/tmp/scratch-tiny-q4km.gguf', LlamaFtype.MOSTLY_Q4_K_M);
  console.log('ms', performance.now() - t0);
});
