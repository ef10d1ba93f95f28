/**
 * A token table's few large columns, kept FP32 beside its int8 rows. A trained GPT-2's table has
 * channels whose values are several times the rest's in nearly every row (student-tiny: the largest
 * column's RMS is 7× the median column's, and it holds the row's largest value in 70% of rows), so a
 * row's one int8 scale is set by them and the other channels get a coarse step. With those columns
 * zeroed in the int8 rows and carried exactly in FP32, the rows' scales fit the rest
 * (docs/performance.md, decisions). Random weights have no such columns, so none are kept.
 */

/** A column is kept when its RMS is at least this many times the median column's. */
export const OUTLIER_RATIO = 3;
/** At most this fraction of the columns is kept (the FP32 copy's bytes and the head's extra work). */
export const MAX_OUTLIER_FRACTION = 1 / 16;

/** The columns of a row-major [rows, cols] matrix to keep FP32, ascending; empty when none stands out. */
export function outlierColumns(data: Float32Array, rows: number, cols: number, ratio = OUTLIER_RATIO, maxFraction = MAX_OUTLIER_FRACTION): number[] {
  if (data.length !== rows * cols) throw new Error(`outlierColumns: ${data.length} values is not ${rows}×${cols}`);
  const sumSq = new Float64Array(cols);
  for (let i = 0; i < data.length; i++) sumSq[i % cols] = (sumSq[i % cols] as number) + (data[i] as number) ** 2;
  const sorted = Float64Array.from(sumSq).sort();
  // Squares are compared, so the ratio is squared too.
  const threshold = (ratio * ratio) * (sorted[cols >> 1] as number);
  return [...sumSq.keys()]
    .filter((c) => (sumSq[c] as number) >= threshold && threshold > 0)
    .sort((a, b) => (sumSq[b] as number) - (sumSq[a] as number))
    .slice(0, Math.floor(cols * maxFraction))
    .sort((a, b) => a - b);
}

/** `data` with `columns` zeroed, and those columns alone as a [rows, columns.length] matrix. */
export function splitColumns(data: Float32Array, rows: number, cols: number, columns: readonly number[]): { rest: Float32Array; kept: Float32Array } {
  const rest = Float32Array.from(data);
  const kept = new Float32Array(rows * columns.length);
  for (let r = 0; r < rows; r++) {
    columns.forEach((c, j) => {
      kept[r * columns.length + j] = data[r * cols + c] as number;
      rest[r * cols + c] = 0;
    });
  }
  return { rest, kept };
}
