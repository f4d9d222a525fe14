import { test } from 'vitest';
import { loadNative } from '../../../src/engine/native.js';
test('speed', async () => {
  const n = loadNative();
  for (const type of [0, 1, 8]) {
    const t0 = performance.now();
    await n.writeGguf('/tmp/speed.gguf', { metadata: [{ key: 'general.architecture', type: 'str', value: 'x' }], tensors: [{ name: 'a', shape: [1024, 32768], type, source: { kind: 'random', seed: 1, mean: 0, std: 1 } }] });
    const s = (performance.now() - t0) / 1000;
    console.log('type', type, 's', s.toFixed(2), 'Melem/s', (32 / s).toFixed(1));
  }
});
