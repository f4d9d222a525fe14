// Quantization speed against llama.cpp's quantizer on the same input and thread count. Timing is
// not asserted (CI machines vary); run it by hand and read the printed table:
//   PETREL_QUANTIZE_SPEED=1 PETREL_SPEED_PRESET=0.8b PETREL_SPEED_LAYERS=8 PETREL_SPEED_THREADS=2 \
//     npx vitest run test/quantize/speed.test.ts
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { quantizeGguf } from '../../src/quantize/index.js';
import { synthesize } from '../../src/synth/index.js';
import { makeTempDir } from '../synth/helpers.js';
import { llamaQuantize } from '../support/llamaQuantize.js';

const RUN = process.env.PETREL_QUANTIZE_SPEED === '1';
const FTYPES: Record<string, number> = { q8_0: 7, q4_0: 2, q2_k: 10, q3_k_m: 12, q4_k_m: 15, q5_k_m: 17, q6_k: 18, iq4_nl: 25, iq4_xs: 30 };

describe.skipIf(!RUN)('quantize speed vs llama.cpp', () => {
  const tmp = makeTempDir('petrel-quantize-speed-');
  afterAll(() => tmp.cleanup());
  const preset = process.env.PETREL_SPEED_PRESET ?? '0.8b';
  const layers = Number(process.env.PETREL_SPEED_LAYERS ?? 8);
  const threads = Number(process.env.PETREL_SPEED_THREADS ?? 2);
  const types = (process.env.PETREL_SPEED_TYPES ?? 'q8_0,q4_k_m,iq4_xs').split(',');

  it('prints seconds per type', { timeout: 3_600_000 }, async () => {
    const src = path.join(tmp.dir, `${preset}-f16.gguf`);
    await synthesize(preset, src, { type: 'f16', layers, seed: 1 });
    const rows: string[] = [];
    for (const type of types) {
      // Alternate the order so neither side always gets the warmer page cache.
      const ours = path.join(tmp.dir, `${type}-petrel.gguf`);
      const theirs = path.join(tmp.dir, `${type}-llama.gguf`);
      let t = performance.now();
      llamaQuantize(src, theirs, FTYPES[type]!, { threads, allowRequantize: true });
      const llama = (performance.now() - t) / 1000;
      t = performance.now();
      await quantizeGguf({ input: src, output: ours, type, threads, force: true });
      const petrel = (performance.now() - t) / 1000;
      rows.push(`${type.padEnd(8)} petrel ${petrel.toFixed(2)} s   llama.cpp ${llama.toFixed(2)} s   ratio ${(llama / petrel).toFixed(2)}x`);
    }
    console.log(`${preset}, ${layers} layers, F16 input, ${threads} threads\n` + rows.join('\n'));
  });
});
