// Loading maps the weights and reads none of them; running uses them in place from the page cache.
// Measured on the 0.8b synthetic model (f16, ~1.4 GB) in a child process that does nothing else:
//   * load: the resident set grows only by the parsed metadata (the 248k-token vocabulary), and
//     read(2) moves no bytes (the weights are mmap'd, not read);
//   * after a forward pass has touched every weight: file-backed RSS grew by at most the file size
//     (each weight byte is resident once, never copied) and anonymous memory by the session state
//     plus scratch; the process's peak stays below file size + state + what the load parsed.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addonPath } from '../../src/native/index.js';
import { presetModel } from './helpers/models.js';

const MiB = 1024 * 1024;
const probeScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'rssProbe.mjs');

interface Probe {
  rss: number;
  hwm: number;
  rchar: number;
  anon: number;
  file: number;
}

describe('memory', () => {
  it('0.8b synthetic model: the load touches no weights; weights are resident once, never copied', async () => {
    const file = await presetModel('0.8b', { type: 'f16' });
    const fileBytes = statSync(file).size;
    const run = spawnSync(process.execPath, [probeScript, file, '8'], {
      encoding: 'utf8',
      env: { ...process.env, PETREL_ADDON: addonPath() },
      timeout: 600_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout) as {
      before: Probe;
      afterLoad: Probe;
      afterEval: Probe;
      stateBytes: number;
      kvBytesPerToken: number;
      position: number;
    };
    const mb = (n: number) => (n / MiB).toFixed(1);
    const state = r.stateBytes + r.kvBytesPerToken * 32; // KV is allocated 32 positions at a time at first
    const loadGrowth = r.afterLoad.rss - r.before.rss;
    const loadRead = r.afterLoad.rchar - r.before.rchar;
    const fileGrowth = r.afterEval.file - r.afterLoad.file;
    const anonGrowth = r.afterEval.anon - r.afterLoad.anon;
    const peakGrowth = r.afterEval.hwm - r.before.rss;
    console.log(
      `[memory] 0.8b f16, file ${mb(fileBytes)} MiB, state ${mb(state)} MiB: load +${mb(loadGrowth)} MiB RSS ` +
        `(${mb(loadRead)} MiB via read(2)); forward pass: +${mb(fileGrowth)} MiB file-backed, +${mb(anonGrowth)} MiB anonymous; ` +
        `peak ${mb(r.afterEval.hwm)} MiB = +${mb(peakGrowth)} MiB over the process before the load`,
    );
    expect(loadGrowth).toBeLessThan(48 * MiB); // metadata only (~30 MiB: tokens + merges parsed by the GGUF reader)
    expect(loadRead).toBeLessThan(MiB);
    expect(fileGrowth).toBeLessThan(fileBytes); // each weight page mapped once (header pages were touched by the load)
    expect(anonGrowth).toBeLessThan(state + 16 * MiB); // state + logits + scratch; no weight copies
    expect(r.afterEval.hwm).toBeLessThan(fileBytes + state + r.before.rss + loadGrowth + 16 * MiB);
  }, 900_000);
});
