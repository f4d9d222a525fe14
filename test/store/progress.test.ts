// What a pull prints: the human reporter's lines and live display, from the events pull.ts emits.
import { describe, expect, it } from 'vitest';
import { createReporter } from '../../src/store/progress.js';

function fakeStream(columns = 120) {
  let text = '';
  return { stream: { write: (s: string) => ((text += s), true), columns } as unknown as NodeJS.WriteStream, text: () => text };
}

describe('pull progress for people', () => {
  it('a file of unknown size (a plain URL) is not announced as 0 B; its size comes with its start', () => {
    const err = fakeStream();
    const r = createReporter('lines', fakeStream().stream, err.stream);
    r.emit({ event: 'resolved', model: 'https://h.example/m.gguf', files: [{ path: 'm.gguf', size: -1 }] });
    r.emit({ event: 'start', file: 'm.gguf', size: 150_000, resumedBytes: 0, resumable: true });
    r.emit({ event: 'done', file: 'm.gguf', size: 150_000, sha256: 'x', seconds: 0.5, cached: false });
    expect(err.text()).toBe('pulling https://h.example/m.gguf: 1 file\n  m.gguf (146 KiB)\n  done m.gguf (146 KiB, 0.5 s, sha256 ok)\n');
  });

  it('the live display shows the rate the progress event measured, and the total over all files', () => {
    const err = fakeStream();
    const r = createReporter('tty', fakeStream().stream, err.stream);
    r.emit({ event: 'resolved', model: 'hf:o/r', repo: 'o/r', files: [{ path: 'a.gguf', size: 4 << 20 }, { path: 'b.gguf', size: 4 << 20 }] });
    r.emit({ event: 'start', file: 'a.gguf', size: 4 << 20, resumedBytes: 0, resumable: true });
    r.emit({ event: 'progress', file: 'a.gguf', bytes: 2 << 20, size: 4 << 20, rate: 1 << 20, totalBytes: 2 << 20, totalSize: 8 << 20 });
    expect(err.text()).toMatch(/a\.gguf {2}\[#{10}\.{10}\] 50% 2\.00 MiB \/ 4\.00 MiB {2}1\.00 MiB\/s {2}ETA 0:02\n {2}total {2}2\.00 MiB \/ 8\.00 MiB {2}ETA 0:06\n$/);
  });
});
