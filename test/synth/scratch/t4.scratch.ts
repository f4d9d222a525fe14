import { test } from 'vitest';
import { buildSynthModel, PRESETS } from '../../../src/synth/index.js';
test('sizes', () => {
  for (const p of PRESETS) {
    const rows: string[] = [];
    for (const type of ['f16', 'q8_0'] as const) {
      const m = buildSynthModel(p.name, { type });
      const m1 = buildSynthModel(p.name, { type, layers: 1 });
      const m4 = buildSynthModel(p.name, { type, layers: 4 });
      const active = m.preset.moe ? m.tensors.reduce((s, t) => s + (t.name.includes('_exps') ? t.shape.reduce((a, b) => a * b, 1) * m.preset.moe!.nExpertUsed / m.preset.moe!.nExpert : t.shape.reduce((a, b) => a * b, 1)), 0) : m.nParams;
      rows.push(`${type}: full ${(m.dataBytes / 2 ** 30).toFixed(2)} GiB, L1 ${(m1.dataBytes / 2 ** 20).toFixed(0)} MiB, L4 ${(m4.dataBytes / 2 ** 20).toFixed(0)} MiB; params ${(m.nParams / 1e9).toFixed(3)}B active ${(active / 1e9).toFixed(2)}B L1 ${(m1.nParams/1e6).toFixed(0)}M label ${m.spec.metadata.find(k => k.key === 'general.size_label')!.value}`);
    }
    console.log(p.name.padEnd(10), rows.join(' | '));
  }
});
