import { describe, expect, it } from 'vitest';
import { AdaptiveConcurrency, BACK_TO_BACK_MS, QUEUED_MS } from './adaptive-concurrency.js';

describe('AdaptiveConcurrency', () => {
  const track = (maxBatch: number) => {
    const applied: number[] = [];
    return { applied, c: new AdaptiveConcurrency(maxBatch, (n) => applied.push(n)) };
  };

  it('starts at 1 and stays there while jobs arrive one at a time', () => {
    const { applied, c } = track(8);
    for (let t = 0; t < 50; t += 10) {
      c.started(t, 1);
      c.ended(t + 5);
    }
    expect(applied.every((n) => n === 1)).toBe(true);
  });

  it('goes to MAX_BATCH when a job starts right after the last one ended, and back to 1 after a gap', () => {
    const { applied, c } = track(8);
    c.started(0, 0);
    c.ended(5);
    c.started(5 + BACK_TO_BACK_MS / 2, 0);
    expect(applied.at(-1)).toBe(8);
    // More jobs held meanwhile (a batch): no change while any is held.
    c.started(6, 0);
    c.started(6, 0);
    const before = applied.length;
    c.ended(9);
    c.ended(9);
    c.ended(9);
    expect(applied.length).toBe(before);
    c.started(30, 1);
    expect(applied.at(-1)).toBe(1);
    // A job that waited in the queue means others may be waiting too.
    c.ended(31);
    c.started(40, QUEUED_MS);
    expect(applied.at(-1)).toBe(8);
  });

  it('never asks for more than MAX_BATCH (1 stays 1)', () => {
    const { applied, c } = track(1);
    c.started(0, 50);
    c.ended(1);
    c.started(1, 50);
    expect(applied.every((n) => n === 1)).toBe(true);
  });
});
