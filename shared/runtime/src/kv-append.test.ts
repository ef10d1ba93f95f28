import { describe, expect, it } from 'vitest';
import { appendPositions } from './kv-append.js';

describe('appendPositions', () => {
  it('puts each row’s new positions after its past ones', () => {
    // 2 rows, P = 2, S = 1, D = 2: past row r holds positions p0, p1; fresh row r holds n0.
    const past = Float32Array.from([1, 1, 2, 2, /* row 1 */ 5, 5, 6, 6]);
    const fresh = Float32Array.from([3, 3, /* row 1 */ 7, 7]);
    expect(Array.from(appendPositions(past, fresh, 2, 2, 1, 2))).toEqual([1, 1, 2, 2, 3, 3, 5, 5, 6, 6, 7, 7]);
  });

  it('starts a cache from nothing', () => {
    const fresh = Float32Array.from([1, 2, 3, 4]);
    expect(Array.from(appendPositions(undefined, fresh, 1, 0, 2, 2))).toEqual([1, 2, 3, 4]);
  });

  it('refuses sizes that do not match the shape', () => {
    expect(() => appendPositions(new Float32Array(3), new Float32Array(2), 1, 2, 1, 2)).toThrow(/cannot append 2 values to 3/);
  });
});
