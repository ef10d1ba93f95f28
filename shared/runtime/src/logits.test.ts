import { describe, expect, it } from 'vitest';
import { argmax, klDivergence, logSoftmax, maxAbsDifference, softmax, topK } from './logits.js';

describe('logits numerics', () => {
  it('softmax matches the textbook formula and sums to 1', () => {
    const x = [1, 2, 3];
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    const p = softmax(x);
    expect(Array.from(p)).toEqual([Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z].map((v) => expect.closeTo(v, 12)));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('log-softmax is stable for huge logits', () => {
    const l = logSoftmax([1000, 1000]);
    expect(l[0]).toBeCloseTo(Math.log(0.5), 12);
  });

  it('argmax and topK pick the largest, ties to the lower index', () => {
    const v = [0.1, 0.9, 0.5, 0.9, -1];
    expect(argmax(v)).toBe(1);
    expect(topK(v, 3)).toEqual([1, 3, 2]);
    expect(topK(v, 10)).toEqual([1, 3, 2, 0, 4]);
  });

  it('KL divergence is 0 for equal logits, shift-invariant, and matches a hand computation', () => {
    expect(klDivergence([1, 2, 3], [11, 12, 13])).toBeCloseTo(0, 12);
    const p = [0.5, 0.5];
    const q = [0.9, 0.1];
    const expected = 0.5 * Math.log(0.5 / 0.9) + 0.5 * Math.log(0.5 / 0.1);
    expect(klDivergence(p.map(Math.log), q.map(Math.log))).toBeCloseTo(expected, 12);
  });

  it('maxAbsDifference', () => {
    expect(maxAbsDifference([1, 2, 3], [1, 2.5, 2])).toBe(1);
  });
});
