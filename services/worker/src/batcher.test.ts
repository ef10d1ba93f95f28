import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

/** A fake model: records each batch and answers after `ms` with item × 10. */
function fakeRun(ms = 0) {
  const batches: number[][] = [];
  const run = async (items: number[]) => {
    batches.push([...items]);
    if (ms > 0) await sleep(ms);
    return items.map((x) => x * 10);
  };
  return { batches, run };
}

describe('Batcher', () => {
  it('runs a lone item at once, even with a long window', async () => {
    const { batches, run } = fakeRun();
    const b = new Batcher({ maxBatch: 8, windowMs: 500, run });
    const started = performance.now();
    expect(await b.submit(4)).toBe(40);
    expect(performance.now() - started).toBeLessThan(250);
    expect(batches).toEqual([[4]]);
  });

  it('keeps lone items unbatched and unwaited, one after another', async () => {
    const { batches, run } = fakeRun();
    const b = new Batcher({ maxBatch: 8, windowMs: 500, run });
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect(await b.submit(i)).toBe(i * 10);
    expect(performance.now() - started).toBeLessThan(400); // five windows would be 2500 ms
    expect(batches).toEqual([[0], [1], [2], [3], [4]]);
  });

  it('runs items submitted together as one batch, answers in order', async () => {
    const { batches, run } = fakeRun();
    const b = new Batcher({ maxBatch: 8, windowMs: 0, run });
    expect(await Promise.all([1, 2, 3].map((x) => b.submit(x)))).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('never exceeds maxBatch', async () => {
    const { batches, run } = fakeRun(5);
    const b = new Batcher({ maxBatch: 3, windowMs: 2, run });
    const xs = Array.from({ length: 10 }, (_, i) => i);
    expect(await Promise.all(xs.map((x) => b.submit(x)))).toEqual(xs.map((x) => x * 10));
    expect(batches.every((batch) => batch.length <= 3)).toBe(true);
    expect(batches.flat()).toEqual(xs);
  });

  it('gathers what arrives during a run into the next batch', async () => {
    const { batches, run } = fakeRun(30);
    const b = new Batcher({ maxBatch: 8, windowMs: 2, run });
    const first = b.submit(1);
    await sleep(5); // the first batch is running
    const rest = [2, 3, 4].map((x) => b.submit(x));
    expect(b.waiting).toBe(3);
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('under load, waits up to the window for company, and no longer', async () => {
    const { batches, run } = fakeRun();
    // A long window, so that "waited for it" and "did not" stay far apart on a busy machine.
    const b = new Batcher({ maxBatch: 8, windowMs: 300, run });
    await Promise.all([b.submit(1), b.submit(2)]); // load: the last batch had company
    const started = performance.now();
    const a = b.submit(3);
    await sleep(20);
    const c = b.submit(4);
    await Promise.all([a, c]);
    const waited = performance.now() - started;
    expect(batches).toEqual([[1, 2], [3, 4]]);
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(2000);
    // Load has passed (that batch had company, so one more windowed batch), then lone items run at once.
    await b.submit(5);
    const t = performance.now();
    await b.submit(6);
    expect(performance.now() - t).toBeLessThan(200);
    expect(batches.slice(2)).toEqual([[5], [6]]);
  });

  it('does not wait for the window when the batch is full', async () => {
    const { batches, run } = fakeRun();
    const b = new Batcher({ maxBatch: 2, windowMs: 10_000, run });
    await Promise.all([b.submit(1), b.submit(2)]);
    const started = performance.now();
    await Promise.all([b.submit(3), b.submit(4)]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(batches).toEqual([[1, 2], [3, 4]]);
  });

  it('rejects every item of a failed batch and keeps working', async () => {
    let fail = true;
    const b = new Batcher<number, number>({
      maxBatch: 4,
      windowMs: 0,
      run: async (items) => {
        if (fail) throw new Error('model fault');
        return items;
      },
    });
    const results = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await b.submit(3)).toBe(3);
  });

  it('rejects a run that returns the wrong number of results', async () => {
    const b = new Batcher<number, number>({ maxBatch: 4, windowMs: 0, run: async () => [1] });
    await expect(Promise.all([b.submit(1), b.submit(2)])).rejects.toThrow(/1 results for 2 items/);
  });

  it('refuses nonsense options', () => {
    expect(() => new Batcher({ maxBatch: 0, windowMs: 0, run: async (x: number[]) => x })).toThrow(RangeError);
    expect(() => new Batcher({ maxBatch: 1, windowMs: -1, run: async (x: number[]) => x })).toThrow(RangeError);
  });
});
