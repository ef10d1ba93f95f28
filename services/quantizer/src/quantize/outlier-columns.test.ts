import { describe, expect, it } from 'vitest';
import { MAX_OUTLIER_FRACTION, outlierColumns, splitColumns } from './outlier-columns.js';

/** Uniform values in [-0.1, 0.1), with `planted` columns multiplied by `factor`. */
function table(rows: number, cols: number, planted: readonly number[] = [], factor = 1): Float32Array {
  let s = 12345;
  const data = Float32Array.from({ length: rows * cols }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647 - 0.5) * 0.2;
  });
  for (let r = 0; r < rows; r++) for (const c of planted) data[r * cols + c] = (data[r * cols + c] as number) * factor;
  return data;
}

describe('outlierColumns', () => {
  it('finds the columns several times larger than the median column, in ascending order', () => {
    expect(outlierColumns(table(200, 64, [40, 3, 17], 5), 200, 64)).toEqual([3, 17, 40]);
  });

  it('keeps none of a table whose columns are alike, or of an all-zero table', () => {
    expect(outlierColumns(table(200, 64), 200, 64)).toEqual([]);
    expect(outlierColumns(new Float32Array(200 * 64), 200, 64)).toEqual([]);
  });

  it('ignores columns below the ratio', () => {
    expect(outlierColumns(table(200, 64, [9], 2.5), 200, 64)).toEqual([]);
  });

  it('keeps at most a sixteenth of the columns, the largest', () => {
    const planted = [0, 5, 10, 15, 20, 25];
    const data = table(100, 64, planted, 4);
    for (let r = 0; r < 100; r++) data[r * 64 + 25] = (data[r * 64 + 25] as number) * 3; // column 25 the largest
    const kept = outlierColumns(data, 100, 64);
    expect(kept).toHaveLength(64 * MAX_OUTLIER_FRACTION);
    expect(kept).toContain(25);
  });

  it('refuses data that is not rows × cols', () => {
    expect(() => outlierColumns(new Float32Array(10), 3, 4)).toThrow(/10 values is not 3×4/);
  });
});

describe('splitColumns', () => {
  it('zeroes the kept columns in the rest and holds them, in order, in kept', () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i + 1); // [3, 4]
    const { rest, kept } = splitColumns(data, 3, 4, [1, 3]);
    expect([...rest]).toEqual([1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11, 0]);
    expect([...kept]).toEqual([2, 4, 6, 8, 10, 12]);
  });
});
