import { describe, expect, it } from 'vitest';
import { createProgressPrinter, formatBytes } from './progress-printer.js';

function sink(isTTY: boolean): { out: string[]; stream: { isTTY: boolean; write: (s: string) => boolean } } {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => out.push(s) > 0 } };
}

describe('createProgressPrinter', () => {
  it('prints one line per 10% step and a done line when not a TTY', () => {
    const { out, stream } = sink(false);
    let t = 0;
    const print = createProgressPrinter(stream, () => t);
    const total = 1000 * 1024 * 1024;
    for (let done = 0; done <= total; done += total / 200) {
      t += 10;
      print({ label: 'model.safetensors', bytesDone: done, bytesTotal: total, done: done === total });
    }
    expect(out).toHaveLength(11); // 0%, 10%, ... 90%, then done
    expect(out.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(out[1]).toMatch(/^model\.safetensors {2}100\.0 MB \/ 1000\.0 MB {2} 10% {2}/);
    expect(out.at(-1)).toMatch(/1000\.0 MB \/ 1000\.0 MB {2}100% .* done\n$/);
  });

  it('rewrites one line on a TTY, at most every 100 ms, and ends it when done', () => {
    const { out, stream } = sink(true);
    let t = 0;
    const print = createProgressPrinter(stream, () => t);
    for (let i = 0; i <= 100; i++) {
      t += 20;
      print({ label: 'f', bytesDone: i, bytesTotal: 100, done: i === 100 });
    }
    expect(out.length).toBeGreaterThan(15);
    expect(out.length).toBeLessThan(25);
    expect(out.every((l) => l.startsWith('\r\x1b[2K'))).toBe(true);
    expect(out.filter((l) => l.endsWith('\n'))).toHaveLength(1);
    expect(out.at(-1)).toMatch(/f {2}100 B \/ 100 B {2}100%/);
  });

  it('copes with an unknown total and restarts its steps for each file', () => {
    const { out, stream } = sink(false);
    const print = createProgressPrinter(stream, () => 0);
    print({ label: 'a', bytesDone: 0, bytesTotal: undefined });
    print({ label: 'a', bytesDone: 10, bytesTotal: undefined });
    print({ label: 'a', bytesDone: 70 * 1024 * 1024, bytesTotal: undefined });
    print({ label: 'b', bytesDone: 0, bytesTotal: 10 });
    expect(out).toEqual([expect.stringMatching(/^a {2}0 B /), expect.stringMatching(/^a {2}70\.0 MB /), expect.stringMatching(/^b {2}0 B \/ 10 B {2} {2}0%/)]);
  });

  it('formats byte counts', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(497_774_344)).toBe('474.7 MB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GB');
  });
});
